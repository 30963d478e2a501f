"""seq2seq: an LSTM encoder-decoder for Tatoeba English-French, trained by a DVC pipeline."""

__version__ = "0.1.0"

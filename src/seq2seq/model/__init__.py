"""The LSTM encoder-decoder: encoder, bridge, attention, decoder, and the model that joins them."""

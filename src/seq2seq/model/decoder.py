"""LSTM decoder with an output layer over the target vocabulary."""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.data.vocab import PAD_ID
from seq2seq.model.attention import Attention, Memory
from seq2seq.model.encoder import State


class Decoder(nn.Module):
    """Embedding, LSTM, optional attention over the encoder outputs, linear layer to vocabulary logits.

    Without input feeding, attention needs only the LSTM outputs, so a teacher-forced sequence runs
    through the LSTM in one call; step-by-step decoding uses the same `forward` with length 1.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int,
                 dropout: float, encoder_output_size: int, attention: bool):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embedding_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0)
        self.attention = Attention(hidden_size, encoder_output_size) if attention else None
        self.out = nn.Linear(hidden_size, vocab_size)

    def memory(self, enc_out: torch.Tensor, src_mask: torch.Tensor) -> Memory | None:
        """What the decoder reads of the encoder outputs at every step (None without attention)."""
        return self.attention.memory(enc_out, src_mask) if self.attention is not None else None

    def forward(self, tgt_in: torch.Tensor, state: State,
                memory: Memory | None) -> tuple[torch.Tensor, State]:
        """Run `tgt_in` (batch, steps) from `state` ((layers, batch, hidden) each).

        Returns the vectors the output layer reads (batch, steps, hidden) and the new state; `project`
        turns them into logits, so training can project only the positions it scores.
        """
        embedded = self.dropout(self.embedding(tgt_in))  # (batch, steps, emb)
        outputs, state = self.rnn(embedded, state)  # (batch, steps, hidden)
        if self.attention is not None:
            outputs = self.attention(outputs, memory)
        return outputs, state

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (..., vocab) of decoder vectors (..., hidden)."""
        return self.out(self.dropout(features))

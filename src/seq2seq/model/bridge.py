"""Map the encoder's final (h, c) to the decoder's initial (h, c)."""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.model.encoder import State


class Bridge(nn.Module):
    """Identity when layer counts and sizes match; otherwise learned maps `tanh(W s + b)` for h and
    for c (tanh keeps the initial state in the range an LSTM's own states have).

    The maps read every encoder layer at once (all layers, both directions concatenated), so they
    cover a bidirectional encoder, different hidden sizes and different layer counts alike.
    """

    def __init__(self, enc_layers: int, enc_size: int, dec_layers: int, dec_size: int):
        super().__init__()
        self.dec_layers, self.dec_size = dec_layers, dec_size
        self.is_identity = enc_layers == dec_layers and enc_size == dec_size
        if not self.is_identity:
            self.map_h = nn.Linear(enc_layers * enc_size, dec_layers * dec_size)
            self.map_c = nn.Linear(enc_layers * enc_size, dec_layers * dec_size)

    def forward(self, state: State) -> State:
        """(h, c), each (enc_layers, batch, enc_size) -> each (dec_layers, batch, dec_size)."""
        if self.is_identity:
            return state
        h, c = state
        return self._map(self.map_h, h), self._map(self.map_c, c)

    def _map(self, linear: nn.Linear, state: torch.Tensor) -> torch.Tensor:
        batch = state.size(1)
        flat = state.transpose(0, 1).reshape(batch, -1)  # (batch, enc_layers * enc_size)
        out = torch.tanh(linear(flat)).view(batch, self.dec_layers, self.dec_size)
        return out.transpose(0, 1).contiguous()  # (dec_layers, batch, dec_size)

"""LSTM encoder over padded source batches."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.data.vocab import PAD_ID
from seq2seq.model.lstm import run_lstm

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (layers, batch, size)


class Encoder(nn.Module):
    """Embedding and a (bi)directional multi-layer LSTM; packing keeps padding out of the states
    (when a batch has any).

    A bidirectional LSTM has separate forward and backward weights; their states are concatenated,
    so `output_size` is `hidden_size * 2` then. `reverse` makes a unidirectional encoder read each
    sentence from its last token to its first (Sutskever et al. 2014), so its final state, which
    starts the decoder, is nearest the words translated first; its outputs keep the source's order.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int,
                 dropout: float, bidirectional: bool, reverse: bool = False):
        super().__init__()
        if reverse and bidirectional:
            # build_model ignores encoder.reverse for a bidirectional encoder; this guards direct use.
            raise ValueError("a reversed encoder is unidirectional: a bidirectional one reads both ways already")
        self.reverse = reverse
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embedding_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)

    @property
    def output_size(self) -> int:
        """Size of each output vector and of each layer's final state (directions concatenated)."""
        return self.rnn.hidden_size * self.num_directions

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Encode `src` (batch, src_len) of true `lengths` (batch,).

        Returns outputs (batch, src_len, output_size), zero at padding, and the final (h, c), each
        (num_layers, batch, output_size).
        """
        lengths = lengths.cpu()
        padded = not bool((lengths == src.size(1)).all())
        if self.reverse:
            src = reverse_rows(src, lengths, padded)
        embedded = self.dropout(self.embedding(src))  # (batch, src_len, emb)
        if not padded:
            # No padding (training batches are bucketed by source length): the plain call is exact
            # and skips packing's sort, gather and scatter.
            outputs, (h, c) = run_lstm(self.rnn, embedded)
        else:
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            packed_out, (h, c) = run_lstm(self.rnn, packed)
            outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))
        if self.reverse:
            outputs = reverse_rows(outputs, lengths, padded)  # back in the source's order, for attention
        return outputs, (self._merge_directions(h), self._merge_directions(c))

    def _merge_directions(self, state: torch.Tensor) -> torch.Tensor:
        """(layers * dirs, batch, hidden) -> (layers, batch, dirs * hidden)."""
        layers_dirs, batch, hidden = state.shape
        state = state.view(self.num_layers, self.num_directions, batch, hidden)
        return state.permute(0, 2, 1, 3).reshape(self.num_layers, batch, self.num_directions * hidden)


def reverse_rows(x: torch.Tensor, lengths: torch.Tensor, padded: bool = True) -> torch.Tensor:
    """`x` (batch, len, ...) with the first `lengths[i]` positions of each row i in reverse order and
    its padding left in place; a plain flip when no row is `padded`. Its own inverse."""
    if not padded:
        return x.flip(1)
    steps = torch.arange(x.size(1))
    index = lengths[:, None] - 1 - steps[None]  # (batch, len): row i's position t reads position index[i, t]
    index = torch.where(index >= 0, index, steps[None]).to(x.device)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))

"""Global attention over the encoder outputs: dot, general (Luong et al. 2015) or additive
(Bahdanau et al. 2015) scores, padding masked. It returns its weights with the context, so
heatmaps and anything else that reads alignments use the same code path as translation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seq2seq.config import ATTENTIONS
from seq2seq.errors import UserError
from seq2seq.model.precision import attends_elementwise


@dataclass
class Memory:
    """The encoder outputs as attention reads them; keys are projected once per batch, not per step."""

    values: torch.Tensor  # (batch, src_len, enc)
    keys: torch.Tensor  # (batch, src_len, key): enc for dot, dec for general and bahdanau
    mask: torch.Tensor  # (batch, src_len), true at real tokens

    def select(self, index: torch.Tensor) -> Memory:
        """The rows `index` (n,) of the batch, e.g. each sentence repeated per beam hypothesis."""
        return Memory(self.values.index_select(0, index), self.keys.index_select(0, index),
                      self.mask.index_select(0, index))

    def head(self, n: int) -> Memory:
        """The first `n` rows of the batch (views)."""
        return Memory(self.values[:n], self.keys[:n], self.mask[:n])


class Attention(nn.Module):
    """Score each encoder output against each decoder query, softmax over real source tokens only,
    and return the weighted sum of encoder outputs (the context) with the weights.

    - dot: `q . k` (needs equal query and encoder output sizes);
    - general: `q . W k`;
    - bahdanau: `v . tanh(W_q q + W_k k)`.
    """

    def __init__(self, kind: str, query_size: int, memory_size: int):
        super().__init__()
        if kind not in ATTENTIONS[1:]:  # "none" builds no attention module
            raise UserError(f"unknown attention {kind!r}: expected one of {', '.join(ATTENTIONS[1:])}.")
        if kind == "dot" and query_size != memory_size:
            # Params are checked when they load (seq2seq.config.check_model); this guards direct use.
            raise ValueError(f"dot attention needs equal sizes, got queries of {query_size} and memory of "
                             f"{memory_size}")
        self.kind = kind
        self.key = nn.Linear(memory_size, query_size, bias=False) if kind != "dot" else None
        if kind == "bahdanau":
            self.query = nn.Linear(query_size, query_size, bias=False)
            self.energy = nn.Linear(query_size, 1, bias=False)

    def memory(self, enc_out: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        """Prepare enc_out (batch, src_len, enc) and src_mask (batch, src_len) for attending."""
        keys = self.key(enc_out) if self.key is not None else enc_out
        return Memory(values=enc_out, keys=keys, mask=src_mask)

    def forward(self, query: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """query (batch, steps, dec) -> context (batch, steps, enc), weights (batch, steps, src_len).

        Each row of weights sums to one and is exactly zero at padding."""
        elementwise = attends_elementwise(query)  # bf16 at a decoder step (seq2seq.model.precision)
        if self.kind == "bahdanau":
            energy = torch.tanh(self.query(query).unsqueeze(2) + memory.keys.unsqueeze(1))  # (b, steps, src, dec)
            scores = self.energy(energy).squeeze(-1)  # (batch, steps, src_len)
        elif elementwise:
            scores = (memory.keys * query).sum(-1).unsqueeze(1)  # (batch, 1, src_len)
        else:
            scores = torch.bmm(query, memory.keys.transpose(1, 2))  # (batch, steps, src_len)
        scores = scores.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if elementwise:
            return (weights.transpose(1, 2) * memory.values).sum(1, keepdim=True), weights
        return torch.bmm(weights, memory.values), weights

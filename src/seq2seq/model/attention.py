"""Luong-style global attention ("general" score), optional in the decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Memory:
    """The encoder outputs as attention reads them; keys are projected once per batch, not per step."""

    values: torch.Tensor  # (batch, src_len, enc)
    keys: torch.Tensor  # (batch, src_len, dec)
    mask: torch.Tensor  # (batch, src_len), true at real tokens


class Attention(nn.Module):
    """Score each encoder output against each decoder output with a bilinear form; mix the
    context back in: `tanh(W [dec_out; context])`, the vector the output layer reads."""

    def __init__(self, dec_size: int, enc_size: int):
        super().__init__()
        self.score = nn.Linear(enc_size, dec_size, bias=False)
        self.combine = nn.Linear(dec_size + enc_size, dec_size, bias=False)

    def memory(self, enc_out: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        """Prepare enc_out (batch, src_len, enc) and src_mask (batch, src_len) for attending."""
        return Memory(values=enc_out, keys=self.score(enc_out), mask=src_mask)

    def forward(self, dec_out: torch.Tensor, memory: Memory) -> torch.Tensor:
        """dec_out (batch, tgt_len, dec) -> attentional vectors (batch, tgt_len, dec)."""
        scores = torch.bmm(dec_out, memory.keys.transpose(1, 2))  # (batch, tgt_len, src_len)
        scores = scores.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        context = torch.bmm(torch.softmax(scores, dim=-1), memory.values)  # (batch, tgt_len, enc)
        return torch.tanh(self.combine(torch.cat([dec_out, context], dim=-1)))

"""Luong-style global attention ("general" score), optional in the decoder."""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Score each encoder output against each decoder output with a bilinear form; mix the
    context back in: `tanh(W [dec_out; context])`, the vector the output layer reads."""

    def __init__(self, dec_size: int, enc_size: int):
        super().__init__()
        self.score = nn.Linear(enc_size, dec_size, bias=False)
        self.combine = nn.Linear(dec_size + enc_size, dec_size, bias=False)

    def forward(self, dec_out: torch.Tensor, enc_out: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """dec_out (batch, tgt_len, dec), enc_out (batch, src_len, enc), src_mask (batch, src_len)
        true at real tokens -> (batch, tgt_len, dec)."""
        scores = torch.bmm(dec_out, self.score(enc_out).transpose(1, 2))  # (batch, tgt_len, src_len)
        scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
        context = torch.bmm(torch.softmax(scores, dim=-1), enc_out)  # (batch, tgt_len, enc)
        return torch.tanh(self.combine(torch.cat([dec_out, context], dim=-1)))

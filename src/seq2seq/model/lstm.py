"""LSTM pieces the encoder and decoder share: a whole-sequence call that works in every precision,
and the cell's gates by hand for the decoder's step-by-step input feeding."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from seq2seq.device import cpu_has_bf16


def run_lstm(rnn: nn.LSTM, inputs: torch.Tensor | PackedSequence,
             state: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple:
    """`rnn(inputs, state)`, in float32 where bfloat16 autocast is on but the CPU's oneDNN has no
    bfloat16 LSTM (a CPU without AVX-512 BF16 or AMX: it would refuse to build the kernel). Matrix
    products elsewhere still run in bfloat16 there."""
    if rnn.weight_ih_l0.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not cpu_has_bf16():
        with torch.autocast("cpu", enabled=False):
            return rnn(inputs, state)
    return rnn(inputs, state)


def lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An LSTM cell from its pre-activation gates (batch, 4 * hidden), in nn.LSTM's order (input,
    forget, cell, output), and the previous cell state (batch, hidden): the new (h, c)."""
    size = c.size(-1)
    # split, not slicing: its backward joins the pieces' gradients in one tensor, where each slice's
    # would fill a zeroed full-size gradient to be summed (docs/speed.md).
    input_forget, cell, output = gates.split([2 * size, size, size], dim=1)
    input_gate, forget_gate = torch.sigmoid(input_forget).split(size, dim=1)
    c = forget_gate * c + input_gate * torch.tanh(cell)
    return torch.sigmoid(output) * torch.tanh(c), c

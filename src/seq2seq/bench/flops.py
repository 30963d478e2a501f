"""An explicit count of the model's matrix-multiply arithmetic, for the benchmark's achieved GFLOP/s.

What is counted, per sentence pair, over real tokens only (padding is work we could avoid, not work
the model needs). A matrix product of (m, k) by (k, n) costs 2*m*k*n FLOPs (a multiply and an add).

- Encoder LSTM, per layer and direction, per source token (words plus `<eos>`):
  `2 * 4H * (I + H)` for the four gates from the input (size I) and the previous state (size H).
  The first layer's input is the embedding; later layers read the previous layer's output.
- Bridge (when it is not the identity): two linear maps, for h and c, once per sentence.
- Decoder LSTM, per layer, per target step (words plus `<eos>`): `2 * 4H * (I + H)`; with input
  feeding the first layer's input is the embedding plus the previous attentional vector (I + dec).
- Attention, per target step: the context (`2 * S * enc`) and the combination (`2 * (dec + enc) *
  dec`), plus the scores: dot `2 * enc * S`; general `2 * dec * S` with the keys projected once
  per source token (`2 * enc * dec`); bahdanau the keys likewise, the query (`2 * dec * dec`) and
  the energy vector (`2 * dec * S`).
- Output layer, per target step: `2 * dec * V`.

Training costs three times the forward count: the backward pass multiplies each weight matrix twice,
once for the gradient of its input and once for the gradient of the weight. Embedding lookups,
element-wise gate arithmetic, softmax, the loss and the optimizer are not matrix multiplies and are
left out, so the achieved figure is the useful arithmetic rate, comparable to the GEMM peak.
"""

from __future__ import annotations

from collections.abc import Iterable

from seq2seq.model.seq2seq import ModelSettings

BACKWARD_FACTOR = 3  # forward + two products per weight matrix in backward


def _lstm_flops_per_token(input_size: int, hidden: int, layers: int, directions: int) -> int:
    total, size = 0, input_size
    for _ in range(layers):
        total += directions * 2 * 4 * hidden * (size + hidden)
        size = hidden * directions
    return total


def forward_flops(s: ModelSettings, src_len: int, tgt_len: int) -> int:
    """Forward matrix-multiply FLOPs of one pair with `src_len` source and `tgt_len` target tokens
    (each counting its `<eos>`)."""
    directions = 2 if s.bidirectional else 1
    enc_out = s.enc_hidden_size * directions
    flops = src_len * _lstm_flops_per_token(s.enc_embedding_size, s.enc_hidden_size, s.enc_num_layers,
                                            directions)
    if not (s.enc_num_layers == s.dec_num_layers and enc_out == s.dec_hidden_size):
        flops += 2 * 2 * (s.enc_num_layers * enc_out) * (s.dec_num_layers * s.dec_hidden_size)
    dec = s.dec_hidden_size
    feeding = s.input_feeding and s.attention != "none"
    flops += tgt_len * _lstm_flops_per_token(s.dec_embedding_size + (dec if feeding else 0), dec,
                                             s.dec_num_layers, 1)
    if s.attention != "none":
        flops += tgt_len * (2 * src_len * enc_out + 2 * (dec + enc_out) * dec)
        if s.attention == "dot":
            flops += tgt_len * 2 * enc_out * src_len
        else:
            flops += src_len * 2 * enc_out * dec + tgt_len * 2 * dec * src_len
        if s.attention == "bahdanau":
            flops += tgt_len * 2 * dec * dec
    flops += tgt_len * 2 * s.dec_hidden_size * s.target_vocab_size
    return flops


def training_flops(s: ModelSettings, lengths: Iterable[tuple[int, int]]) -> int:
    """Matrix-multiply FLOPs of a training pass (forward and backward) over pairs of these
    (source, target) token lengths."""
    return BACKWARD_FACTOR * sum(forward_flops(s, src, tgt) for src, tgt in lengths)

"""Which source tokens each output token attended to: the tokens on both axes and the weights, as
the evaluate stage's heatmaps and the server's page draw them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seq2seq.checkpoint import LoadedModel
from seq2seq.data.vocab import EOS, EOS_ID, SOS_ID


@dataclass
class Attention:
    """Attention weights of one translation: one row per output token (its `<eos>` included), one
    column per source token (the pieces or words the model read, its `<eos>` included)."""

    source_tokens: list[str]
    output_tokens: list[str]
    weights: list[list[float]]


def align(loaded: LoadedModel, src: torch.Tensor, lengths: torch.Tensor, source: str,
          out: list[int]) -> Attention | None:
    """The weights each token of `out` (ids, cut after its `<eos>`) was chosen with, reading `src`
    (1, src_len) of `lengths` (1,), the encoded normalised sentence `source`; None without attention."""
    out = out[:out.index(EOS_ID) + 1] if EOS_ID in out else out
    weights = loaded.model.alignments(src, lengths, torch.tensor([[SOS_ID] + out[:-1]], device=src.device))
    if weights is None:
        return None
    return Attention(loaded.source.split(source) + [EOS], [loaded.target.itos[t] for t in out], weights[0].tolist())

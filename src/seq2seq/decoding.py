"""Batched greedy decoding of id sequences into token lists."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seq2seq.data.batching import pad_sources
from seq2seq.data.vocab import Vocab
from seq2seq.model.seq2seq import Seq2Seq


def greedy_translate(model: Seq2Seq, sources: Sequence[list[int]], target: Vocab, batch_size: int,
                     max_len: int, device: torch.device, min_len: int = 0) -> list[list[str]]:
    """Translate source id lists (each ending in `<eos>`) greedily; tokens up to `<eos>`, in order."""
    model.eval()
    out: list[list[str]] = []
    for start in range(0, len(sources), batch_size):
        src, lengths = pad_sources(sources[start:start + batch_size])
        ids = model.greedy(src.to(device), lengths, max_len, min_len)  # (batch, <= max_len)
        out.extend(target.decode(row) for row in ids.tolist())
    return out

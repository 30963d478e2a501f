"""Search strategies over a trained model, apart from the network: greedy decoding (beam search
joins it here). The model exposes what they need: `encode`, one decoder `step`, and `select` on
its state and memory to reorder hypotheses."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seq2seq.data.batching import pad_sources
from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seq2seq.model.seq2seq import Seq2Seq


@torch.no_grad()
def greedy_search(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int,
                  min_len: int = 0) -> torch.Tensor:
    """The most likely next token at every step: ids (batch, <= max_len), each row ending at its
    `<eos>` (padded after it) or at max_len. `<eos>` is not allowed before step `min_len` (the
    benchmark uses it to decode full lengths)."""
    state, memory = model.encode(src, src_lengths)
    token = torch.full((src.size(0),), SOS_ID, dtype=torch.long, device=src.device)
    done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    out = []
    for step in range(max_len):
        logits, state, _ = model.step(token, state, memory)  # (batch, vocab)
        if step < min_len:
            logits[:, EOS_ID] = float("-inf")
        token = logits.argmax(-1).masked_fill(done, PAD_ID)  # (batch,)
        out.append(token)
        done |= token == EOS_ID
        if bool(done.all()):
            break
    return torch.stack(out, dim=1)


def translate_ids(model: Seq2Seq, sources: Sequence[list[int]], target: Vocab, batch_size: int,
                  max_len: int, device: torch.device, min_len: int = 0) -> list[str]:
    """Translate source id lists (each ending in `<eos>`), `batch_size` at a time, in order; each
    translation as a normalised sentence (pieces joined back into words)."""
    model.eval()
    out: list[str] = []
    for start in range(0, len(sources), batch_size):
        src, lengths = pad_sources(sources[start:start + batch_size])
        ids = greedy_search(model, src.to(device), lengths, max_len, min_len)  # (batch, <= max_len)
        out.extend(target.join(target.decode(row)) for row in ids.tolist())
    return out

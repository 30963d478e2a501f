"""Several checkpoints decoding as one: at every step the models' log-probabilities are averaged
(and renormalised, so that scores stay log-probabilities: the normalised geometric mean of their
distributions), each model keeping its own encoder state and memory, in greedy and in beam search
alike (the search strategies drive an `Ensemble` exactly as they drive one `Seq2Seq`). Checkpoints
must share their vocabularies and text settings, or their tokens would not mean the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from seq2seq.checkpoint import LoadedModel, load_checkpoint
from seq2seq.errors import UserError
from seq2seq.model.seq2seq import Seq2Seq


@dataclass
class _Members:
    """One decoder state, or one memory, per model, reordered together."""

    parts: list

    def select(self, index: torch.Tensor) -> _Members:
        return _Members([None if part is None else part.select(index) for part in self.parts])


class Ensemble(nn.Module):
    """Models that read the same vocabularies, decoding together through `encode` and `step`."""

    def __init__(self, models: Sequence[Seq2Seq]):
        super().__init__()
        self.members = nn.ModuleList(models)
        self.settings = models[0].settings  # what heatmaps and /model describe: the first model's

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[_Members, _Members]:
        states, memories = zip(*(model.encode(src, src_lengths) for model in self.members))
        return _Members(list(states)), _Members(list(memories))

    def step(self, token: torch.Tensor, state: _Members, memory: _Members
             ) -> tuple[torch.Tensor, _Members, torch.Tensor | None]:
        """The mean of the models' log-probabilities (batch, vocab) as logits (search renormalises
        them), the new states, and the mean attention weights (None if any model has no attention)."""
        steps = [model.step(token, s, m) for model, s, m in zip(self.members, state.parts, memory.parts)]
        logp = torch.stack([torch.log_softmax(logits.float(), dim=-1) for logits, _, _ in steps]).mean(dim=0)
        weights = [w for _, _, w in steps]
        mean = None if any(w is None for w in weights) else torch.stack(weights).mean(dim=0)
        return logp, _Members([s for _, s, _ in steps]), mean

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, generator: torch.Generator | None = None,
                scored: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced, as `Seq2Seq.forward`: the mean of the models' log-probabilities, so that
        the loss scores the distribution search decodes from."""
        return torch.stack([torch.log_softmax(model(src, src_lengths, tgt_in, teacher_forcing_ratio, generator,
                                                    scored).float(), dim=-1) for model in self.members]).mean(dim=0)

    @torch.no_grad()
    def alignments(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor | None:
        """The models' mean attention weights (batch, tgt_len, src_len) while reading `tgt_in`."""
        weights = [model.alignments(src, src_lengths, tgt_in) for model in self.members]
        return None if any(w is None for w in weights) else torch.stack(weights).mean(dim=0)


def load_models(paths: Sequence[Path], device: torch.device | str = "cpu") -> LoadedModel:
    """One checkpoint as it is, or several as an `Ensemble` with the first one's vocabularies and
    text settings, after checking that every other has the same."""
    loaded = [load_checkpoint(path, device) for path in paths]
    first = loaded[0]
    for path, other in zip(paths[1:], loaded[1:]):
        difference = _difference(first, other)
        if difference:
            raise UserError(f"{paths[0]} and {path} cannot decode together: {difference}. An ensemble needs "
                            "checkpoints trained on the same vocabularies and text settings (the same prepare, "
                            "split and vocab params), e.g. the default trained with other train.seed values.")
    if len(loaded) == 1:
        return first
    return LoadedModel(Ensemble([m.model for m in loaded]).eval(), first.source, first.target, first.text,
                       first.source_words, first.precision)


def _difference(a: LoadedModel, b: LoadedModel) -> str | None:
    """What two checkpoints disagree on that decoding together needs, in words; None if nothing."""
    for side, va, vb in (("source", a.source, b.source), ("target", a.target, b.target)):
        if va.kind != vb.kind:
            return f"their {side} vocabularies are of different kinds ({va.kind} and {vb.kind})"
        if va.itos != vb.itos or (va.pieces is not None and va.pieces.bytes != vb.pieces.bytes):
            return f"their {side} vocabularies differ ({len(va)} and {len(vb)} tokens)"
    keys = sorted(k for k in set(a.text) | set(b.text) if a.text.get(k) != b.text.get(k))
    if keys:
        return "their text settings differ in " + ", ".join(f"{k} ({a.text.get(k)!r} and {b.text.get(k)!r})"
                                                           for k in keys)
    return None

"""Word vocabularies: special tokens at fixed ids, then words by frequency, then alphabetically."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from seq2seq.data.text import tokenize
from seq2seq.errors import UserError
from seq2seq.fileio import atomic_open, read_pairs

log = logging.getLogger("seq2seq.vocab")

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = range(4)


class Vocab:
    """A bijection between tokens and ids; unknown tokens map to `<unk>`."""

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[:4]) != SPECIALS:
            raise UserError(f"a vocabulary must start with {', '.join(SPECIALS)}: rerun the vocab stage.")
        if len(set(tokens)) != len(tokens):
            raise UserError("the vocabulary repeats a token: rerun the vocab stage.")
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids, `<unk>` for unknown tokens (no `<sos>`/`<eos>` added)."""
        return [self.stoi.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids, stopping at the first `<eos>` and skipping `<pad>` and `<sos>`."""
        out = []
        for i in ids:
            if i == EOS_ID:
                break
            if i not in (PAD_ID, SOS_ID):
                out.append(self.itos[i])
        return out

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 1, max_size: int = 0) -> "Vocab":
        """Count tokens; keep those seen `min_count` times, most frequent first, at most `max_size`
        words besides the specials (0: no limit)."""
        counts = Counter(t for s in sentences for t in tokenize(s))
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        if max_size:
            words = words[:max_size]
        return cls([*SPECIALS, *words])

    def save(self, path: Path) -> None:
        """One token per line, ids are line numbers from 0."""
        with atomic_open(path) as handle:
            handle.writelines(t + "\n" for t in self.itos)

    @classmethod
    def load(cls, path: Path) -> "Vocab":
        if not Path(path).exists():
            raise UserError(f"{path} does not exist: run the vocab stage (dvc repro vocab).")
        return cls(Path(path).read_text(encoding="utf-8").splitlines())


def build_vocabs(train_path: Path, source_path: Path, target_path: Path, min_count: int,
                 max_size: int) -> tuple[Vocab, Vocab]:
    """Build and save one vocabulary per side from the training split only."""
    pairs = read_pairs(train_path)
    source = Vocab.build((s for s, _ in pairs), min_count, max_size)
    target = Vocab.build((t for _, t in pairs), min_count, max_size)
    source.save(source_path)
    target.save(target_path)
    log.info("vocabularies: %d source tokens, %d target tokens (with %d specials)", len(source),
             len(target), len(SPECIALS))
    return source, target

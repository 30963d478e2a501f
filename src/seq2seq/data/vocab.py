"""Vocabularies of words or of subword pieces: special tokens at fixed ids, then the tokens.

A word vocabulary lists words by frequency, then alphabetically. A piece vocabulary lists a
sentencepiece BPE model's pieces in the model's order and keeps the model beside it
(`source.model` next to `source.txt`), so it can cut sentences into pieces and join them again.
Either way a Vocab turns a normalised sentence into ids and ids back into a normalised sentence.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from seq2seq.data.subword import PieceModel, train_pieces
from seq2seq.data.text import tokenize
from seq2seq.errors import UserError
from seq2seq.fileio import atomic_open, atomic_path, read_pairs

log = logging.getLogger("seq2seq.vocab")

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = range(4)
VOCAB_TYPES = ("word", "bpe")
SOURCE_FILE, TARGET_FILE = "source.txt", "target.txt"


class Vocab:
    """A bijection between tokens and ids; unknown tokens map to `<unk>`. With `pieces`, the tokens
    are that sentencepiece model's pieces."""

    def __init__(self, tokens: Sequence[str], pieces: PieceModel | None = None):
        if tuple(tokens[:4]) != SPECIALS:
            raise UserError(f"a vocabulary must start with {', '.join(SPECIALS)}: rerun the vocab stage.")
        if len(set(tokens)) != len(tokens):
            raise UserError("the vocabulary repeats a token: rerun the vocab stage.")
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pieces = pieces

    @property
    def kind(self) -> str:
        """"word" or "bpe"."""
        return "bpe" if self.pieces is not None else "word"

    def split(self, sentence: str) -> list[str]:
        """The tokens of a normalised sentence: its words, or its pieces."""
        return self.pieces.split(sentence) if self.pieces is not None else tokenize(sentence)

    def join(self, tokens: Sequence[str]) -> str:
        """A normalised sentence (words separated by spaces) from tokens."""
        return self.pieces.join(list(tokens)) if self.pieces is not None else " ".join(tokens)

    def unknown_words(self, sentence: str) -> list[str]:
        """Words of a normalised sentence that the vocabulary can only read as `<unk>` (for pieces:
        words with a character never seen in training)."""
        if self.pieces is None:
            return [w for w in tokenize(sentence) if w not in self.stoi]
        return [w for w in tokenize(sentence) if UNK_ID in self.encode(self.pieces.split(w))]

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
    def build(cls, sentences: Iterable[str], min_count: int = 1, max_size: int = 0) -> Vocab:
        """Count tokens; keep those seen `min_count` times, most frequent first, at most `max_size`
        words besides the specials (0: no limit)."""
        counts = Counter(t for s in sentences for t in tokenize(s))
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        if max_size:
            words = words[:max_size]
        return cls([*SPECIALS, *words])

    @classmethod
    def build_pieces(cls, sentences: Iterable[str], size: int) -> Vocab:
        """Train a BPE model of at most `size` pieces; the vocabulary lists its pieces after the specials."""
        model = PieceModel(train_pieces(sentences, size))
        return cls([*SPECIALS, *(p for p in model.pieces() if p not in SPECIALS)], model)

    def save(self, path: Path) -> None:
        """One token per line, ids are line numbers from 0; a piece model goes beside, as .model."""
        with atomic_open(path) as handle:
            handle.writelines(t + "\n" for t in self.itos)
        if self.pieces is not None:
            with atomic_path(Path(path).with_suffix(".model")) as tmp:
                tmp.write_bytes(self.pieces.bytes)

    @classmethod
    def load(cls, path: Path) -> Vocab:
        """Read a vocabulary written by `save` (with its piece model, when one lies beside it)."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"{path} does not exist: run the vocab stage (dvc repro vocab).")
        model = path.with_suffix(".model")
        pieces = PieceModel(model.read_bytes()) if model.is_file() else None
        return cls(path.read_text(encoding="utf-8").splitlines(), pieces)


def build_vocabs(train_path: Path, out_dir: Path, kind: str = "word", min_count: int = 1,
                 max_size: int = 0, size: int = 0, joint: bool = False,
                 extra_path: Path | None = None) -> tuple[Vocab, Vocab]:
    """Build one vocabulary per side from the training data only (the training split, plus the
    extra training pairs at `extra_path` when given) and save them in `out_dir` as source.txt and
    target.txt (plus source.model and target.model for `kind` "bpe", of at most `size` pieces each).
    `joint` learns one vocabulary from both sides' sentences together (`size` pieces in all) and
    saves it as both."""
    pairs = read_pairs(train_path) + (read_pairs(extra_path) if extra_path is not None else [])
    sides = [[s for s, _ in pairs], [t for _, t in pairs]]
    if joint:
        sides = [sides[0] + sides[1]]
    if kind == "bpe":
        vocabs = [Vocab.build_pieces(side, size) for side in sides]
    else:
        vocabs = [Vocab.build(side, min_count, max_size) for side in sides]
    source, target = vocabs[0], vocabs[-1]
    out_dir.mkdir(parents=True, exist_ok=True)
    source.save(out_dir / SOURCE_FILE)
    target.save(out_dir / TARGET_FILE)
    log.info("%s%s vocabularies: %d source tokens, %d target tokens (with %d specials)", "joint " if joint else "",
             kind, len(source), len(target), len(SPECIALS))
    return source, target


def load_vocabs(folder: Path) -> tuple[Vocab, Vocab]:
    """The source and target vocabularies that `build_vocabs` saved in `folder`."""
    return Vocab.load(Path(folder) / SOURCE_FILE), Vocab.load(Path(folder) / TARGET_FILE)

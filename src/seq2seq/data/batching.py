"""Turn token pairs into padded id tensors, in shuffled or fixed-order batches."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seq2seq.errors import UserError
from seq2seq.fileio import Pair

Example = tuple[list[int], list[int]]


@dataclass
class Batch:
    """Padded tensors for one batch; `tgt_in` starts with `<sos>`, `tgt_out` ends with `<eos>`."""

    src: torch.Tensor  # (batch, src_len)
    src_lengths: torch.Tensor  # (batch,)
    tgt_in: torch.Tensor  # (batch, tgt_len)
    tgt_out: torch.Tensor  # (batch, tgt_len)
    indices: list[int]  # positions of these examples in the input list

    def to(self, device: torch.device) -> Batch:
        return Batch(self.src.to(device), self.src_lengths, self.tgt_in.to(device),
                     self.tgt_out.to(device), self.indices)


def encode_source(sentence: str, vocab: Vocab) -> list[int]:
    """Ids of a normalised sentence's tokens (words or pieces, as the vocabulary cuts it) plus `<eos>`."""
    return vocab.encode(vocab.split(sentence)) + [EOS_ID]


def encode_pairs(pairs: Sequence[Pair], source: Vocab, target: Vocab) -> list[Example]:
    """Each pair as (source ids + `<eos>`, target ids + `<eos>`)."""
    return [(encode_source(s, source), encode_source(t, target)) for s, t in pairs]


class TrainingPairs:
    """The training pairs as ids for each epoch: the same ids every epoch, or, with
    `subword_dropout` (BPE-dropout, piece vocabularies only), both sides cut anew each epoch with
    merges skipped at that rate, from a seed made of `seed`, the epoch and the side.

    With `extra` pairs and `extra_per_epoch` above 0, each epoch also holds the next
    `extra_per_epoch` of them along one seeded order, wrapping around, so every extra pair is seen
    once before any is seen twice (all of them each epoch when there are no more than that)."""

    def __init__(self, pairs: Sequence[Pair], source: Vocab, target: Vocab, subword_dropout: float = 0.0,
                 seed: int = 0, extra: Sequence[Pair] = (), extra_per_epoch: int = 0):
        if subword_dropout and (source.pieces is None or target.pieces is None):
            raise UserError(f"train.subword_dropout is {subword_dropout}, but the vocabularies are whole words: "
                            "BPE-dropout cuts words into subword pieces. Set vocab.type=bpe, or "
                            "train.subword_dropout=0.")
        self.pairs, self.source, self.target = list(pairs), source, target
        self.dropout, self.seed = subword_dropout, seed
        self.fixed = None if subword_dropout else encode_pairs(self.pairs, source, target)
        # The extra pairs in one seeded order (none kept when no epoch draws from them).
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(extra), generator=generator).tolist() if extra_per_epoch else []
        self.extra = [extra[i] for i in order]
        self.extra_per_epoch = min(extra_per_epoch, len(self.extra))

    def extra_pairs(self, epoch: int) -> list[Pair]:
        """The extra pairs of epoch `epoch` (from 1), in their seeded order."""
        if not self.extra_per_epoch:
            return []
        start, n = (epoch - 1) * self.extra_per_epoch, len(self.extra)
        return [self.extra[(start + i) % n] for i in range(self.extra_per_epoch)]

    def epoch(self, epoch: int) -> list[Example]:
        """The examples of epoch `epoch` (from 1): the pairs, then that epoch's extra pairs."""
        extra = self.extra_pairs(epoch)
        if not self.dropout:
            return self.fixed + encode_pairs(extra, self.source, self.target) if extra else self.fixed
        pairs = self.pairs + extra
        sides = []
        for side, vocab in enumerate((self.source, self.target)):
            seed = (self.seed * 1_000_003 + epoch * 2 + side) % (2**32 - 1)  # sentencepiece reads 2**32 - 1 as 'random'
            pieces = vocab.pieces.sample([pair[side] for pair in pairs], self.dropout, seed)
            sides.append([vocab.encode(p) + [EOS_ID] for p in pieces])
        return list(zip(*sides))


def _pad(rows: Sequence[list[int]]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD_ID] * (width - len(r)) for r in rows], dtype=torch.long)


def pad_sources(sources: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded source ids (batch, src_len) and their true lengths (batch,)."""
    return _pad(sources), torch.tensor([len(s) for s in sources])


def collate(examples: Sequence[Example], indices: list[int]) -> Batch:
    """Pad a list of examples into a Batch."""
    src, lengths = pad_sources([s for s, _ in examples])
    tgt = [t for _, t in examples]
    return Batch(src=src, src_lengths=lengths, tgt_in=_pad([[SOS_ID] + t[:-1] for t in tgt]),
                 tgt_out=_pad(tgt), indices=indices)


def random_chunks(examples: Sequence[Example], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Batches of example indices, shuffled: any lengths side by side, padded when collated."""
    order = torch.randperm(len(examples), generator=generator).tolist()
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def bucketed_chunks(examples: Sequence[Example], batch_size: int, generator: torch.Generator,
                    width: int = 1) -> list[list[int]]:
    """Shuffled batches of example indices whose sources fall in one range of `width` lengths.

    Pairs are shuffled, grouped by source length // `width` (stable, so each group stays shuffled
    and its batches random within it), cut into batches of at most `batch_size`, and the batches
    shuffled again. At width 1 no source needs padding, so the encoder runs without packing; the
    targets' lengths vary, and training's decoder runs each step only on the rows whose target
    reaches it (`Decoder.teacher_forced`).
    """
    def bucket(i: int) -> int:
        return len(examples[i][0]) // width

    order = sorted(torch.randperm(len(examples), generator=generator).tolist(), key=bucket)
    chunks: list[list[int]] = []
    for _, same in itertools.groupby(order, key=bucket):
        same = list(same)
        chunks.extend(same[start:start + batch_size] for start in range(0, len(same), batch_size))
    return [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]


def training_chunks(examples: Sequence[Example], batch_size: int, generator: torch.Generator,
                    batching: str = "length", width: int = 1) -> list[list[int]]:
    """One epoch's batches as `train.batching` cuts them: `random_chunks` or `bucketed_chunks`."""
    if batching == "random":
        return random_chunks(examples, batch_size, generator)
    return bucketed_chunks(examples, batch_size, generator, width)


def batches(examples: Sequence[Example], batch_size: int,
            generator: torch.Generator | None = None) -> Iterator[Batch]:
    """Yield batches in input order, or shuffled by `generator` when one is given."""
    order = (torch.randperm(len(examples), generator=generator).tolist() if generator is not None
             else list(range(len(examples))))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        yield collate([examples[i] for i in chunk], chunk)

"""Batching (`seq2seq.data.batching`): padded batches with shifted targets, chunks cut by source
length or at random, and the training pairs of each epoch (BPE-dropout, extra pairs in turn)."""

import pytest
import torch

from seq2seq.data.batching import (
    TrainingPairs,
    batches,
    bucketed_chunks,
    collate,
    encode_pairs,
    random_chunks,
    training_chunks,
)
from seq2seq.data.vocab import EOS_ID, Vocab
from seq2seq.errors import UserError
from tests.conftest import EXAMPLES, PAIRS, SOURCE, TARGET


def test_batches_pad_and_shift_targets():
    batch = collate(EXAMPLES[:2], [0, 1])
    assert batch.src.shape[0] == 2 and batch.tgt_in[0, 0].item() == 1
    real = batch.tgt_out[:, :-1] != 0
    assert torch.equal(batch.tgt_in[:, 1:][real], batch.tgt_out[:, :-1][real])
    shuffled = [b.indices for b in batches(EXAMPLES, 4, torch.Generator().manual_seed(0))]
    assert sorted(i for chunk in shuffled for i in chunk) == list(range(len(EXAMPLES)))


def test_bucketed_chunks_cover_every_pair_once_with_one_source_length_each():
    examples = [([4] * n + [2], [5, 2]) for n in (1, 2, 2, 3, 3, 3, 3, 3, 1, 2)]
    chunks = bucketed_chunks(examples, 2, torch.Generator().manual_seed(0))
    assert sorted(i for c in chunks for i in c) == list(range(len(examples)))
    assert all(len(c) <= 2 and len({len(examples[i][0]) for i in c}) == 1 for c in chunks)
    # lengths 1: 2 pairs, 2: 3 pairs, 3: 5 pairs -> 1 + 2 + 3 batches of at most 2
    assert len(chunks) == 6
    assert chunks == bucketed_chunks(examples, 2, torch.Generator().manual_seed(0))
    assert chunks != bucketed_chunks(examples, 2, torch.Generator().manual_seed(1))


def test_bucketed_chunks_of_wider_ranges_hold_one_range_each():
    # Source lengths (with <eos>) 2 to 7; ranges of 3 tokens: {2}, {3, 4, 5}, {6, 7}, as length // 3.
    examples = [([4] * (n - 1) + [2], [5, 2]) for n in (2, 3, 4, 5, 6, 7, 3, 4, 5, 6, 7, 2)]
    chunks = bucketed_chunks(examples, 4, torch.Generator().manual_seed(0), width=3)
    assert sorted(i for c in chunks for i in c) == list(range(len(examples)))
    ranges = [{len(examples[i][0]) // 3 for i in c} for c in chunks]
    assert all(len(r) == 1 for r in ranges)
    # range 0: 2 pairs (one batch), range 1: 6 pairs (two batches), range 2: 4 pairs (one batch)
    assert sorted(len(c) for c in chunks) == [2, 2, 4, 4]
    assert any(len({len(examples[i][0]) for i in c}) > 1 for c in chunks)  # mixed lengths within a range


def test_random_chunks_are_shuffled_full_batches_of_any_lengths():
    examples = [([4] * n + [2], [5, 2]) for n in (1, 2, 3, 1, 2, 3, 1, 2, 3, 1)]
    chunks = random_chunks(examples, 4, torch.Generator().manual_seed(0))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert sorted(i for c in chunks for i in c) == list(range(10))
    assert chunks != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert any(len({len(examples[i][0]) for i in c}) > 1 for c in chunks)
    assert training_chunks(examples, 4, torch.Generator().manual_seed(0), "random") == chunks
    assert training_chunks(examples, 4, torch.Generator().manual_seed(0), "length", 1) == bucketed_chunks(
        examples, 4, torch.Generator().manual_seed(0))


def test_training_pairs_cut_anew_each_epoch_with_bpe_dropout_and_repeat_by_seed():
    french = [s for s, _ in PAIRS] * 4
    english = [t for _, t in PAIRS] * 4
    source, target = Vocab.build_pieces(french, 40), Vocab.build_pieces(english, 40)
    pairs = list(zip(french, english))
    plain = TrainingPairs(pairs, source, target)
    assert plain.epoch(1) == plain.epoch(2) == encode_pairs(pairs, source, target)
    sampled = TrainingPairs(pairs, source, target, subword_dropout=0.4, seed=3)
    one, two = sampled.epoch(1), sampled.epoch(2)
    assert one != two and one == TrainingPairs(pairs, source, target, 0.4, 3).epoch(1)
    assert one != TrainingPairs(pairs, source, target, 0.4, 4).epoch(1)
    # Each example still reads as its pair, ends in <eos>, and both sides were sampled.
    for (src, tgt), (s, t) in zip(one, pairs):
        assert src[-1] == EOS_ID and tgt[-1] == EOS_ID
        assert source.join(source.decode(src)) == s and target.join(target.decode(tgt)) == t
    assert any(a[0] != b[0] for a, b in zip(one, plain.epoch(1)))
    assert any(a[1] != b[1] for a, b in zip(one, plain.epoch(1)))
    with pytest.raises(UserError, match=r"train.subword_dropout is 0.1.*whole words.*vocab.type=bpe"):
        TrainingPairs(PAIRS, SOURCE, TARGET, subword_dropout=0.1)


def test_extra_pairs_come_in_turn_all_before_any_twice_and_repeat_by_seed():
    pairs, extra = PAIRS[:2], PAIRS[2:]  # 4 extra pairs, 3 per epoch
    drawn = TrainingPairs(pairs, SOURCE, TARGET, seed=5, extra=extra, extra_per_epoch=3)
    one, two, three = (drawn.extra_pairs(e) for e in (1, 2, 3))
    assert len(one) == len(two) == 3 and sorted(one + two[:1]) == sorted(extra)  # all four before a repeat
    assert (one + two + three)[4:8] == (one + two + three)[:4]  # the same order, round again
    assert drawn.epoch(1) == encode_pairs(pairs + one, SOURCE, TARGET)
    assert TrainingPairs(pairs, SOURCE, TARGET, seed=5, extra=extra, extra_per_epoch=3).extra_pairs(2) == two
    assert len({tuple(TrainingPairs(pairs, SOURCE, TARGET, seed=s, extra=extra, extra_per_epoch=4).extra_pairs(1))
                for s in range(10)}) > 1
    every = TrainingPairs(pairs, SOURCE, TARGET, extra=extra, extra_per_epoch=50)
    assert sorted(every.extra_pairs(1)) == sorted(every.extra_pairs(2)) == sorted(extra)
    assert TrainingPairs(pairs, SOURCE, TARGET, extra=extra).epoch(1) == encode_pairs(pairs, SOURCE, TARGET)
    # BPE-dropout cuts the epoch's extra pairs too.
    french, english = [s for s, _ in PAIRS] * 4, [t for _, t in PAIRS] * 4
    source, target = Vocab.build_pieces(french, 40), Vocab.build_pieces(english, 40)
    sampled = TrainingPairs(pairs, source, target, 0.4, 5, extra, 3)
    examples = sampled.epoch(1)
    assert [(source.join(source.decode(s)), target.join(target.decode(t))) for s, t in examples] == pairs + one


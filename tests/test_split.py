import json
import random

import pytest

from seq2seq.data.split import connected_groups, extra_training_pairs, grouped_split, split_file, split_stats
from seq2seq.errors import UserError
from seq2seq.fileio import read_pairs, write_pairs


def make_pairs(n_sources=60, seed=0):
    """Sources with several translations, and targets shared by several sources (tu/vous, gender),
    so that a split grouped by source alone would put the same target on both sides."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n_sources):
        for j in range(rng.choice([1, 1, 2, 3])):
            pairs.append((f"source {i}", f"target {i} {j}"))
        if i % 4 == 1:  # also translates the previous source's first target
            pairs.append((f"source {i}", f"target {i - 1} 0"))
    return pairs


def leaks(train, test):
    return ({s for s, _ in train} & {s for s, _ in test}, {t for _, t in train} & {t for _, t in test})


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_exact_size_and_no_sentence_on_both_sides(fraction):
    pairs = make_pairs()
    train, test = grouped_split(pairs, fraction, seed=3)
    assert len(test) == round(fraction * len(pairs))
    assert sorted(train + test) == sorted(pairs)
    assert leaks(train, test) == (set(), set())


def test_a_chain_of_shared_sentences_is_one_group():
    # s1-t1, s2-t1 (same target), s2-t2 (same source), s3-t2: one chain; s4-t4 stands alone.
    pairs = [("s1", "t1"), ("s2", "t1"), ("s2", "t2"), ("s3", "t2"), ("s4", "t4"), ("s5", "s1")]
    # Sources and targets are different sentences even when spelled alike: ("s5", "s1") is alone.
    assert sorted(map(sorted, connected_groups(pairs))) == [[0, 1, 2, 3], [4], [5]]


def test_exact_count_needs_the_right_combination_of_groups():
    # Groups of 2, 3 and 3 pairs: 6 is only reachable as 3 + 3, never by taking the 2 first.
    pairs = [("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2"), ("b", "b3"),
             ("c", "c1"), ("c", "c2"), ("c", "c3"), ("d", "d1"), ("d", "d2"), ("d", "d3"), ("d", "d4")]
    for seed in range(10):
        train, test = grouped_split(pairs, 0.5, seed)
        assert len(test) == 6 and leaks(train, test) == (set(), set())


def test_exact_count_that_needs_the_largest_group():
    # Groups of 4, 1 and 1 pairs; 4 wanted: only the 4-pair group makes it, and 2 pairs stay in train.
    pairs = [("a", f"a{i}") for i in range(4)] + [("b", "b1"), ("c", "c1")]
    for seed in range(5):
        train, test = grouped_split(pairs, 0.67, seed)
        assert sorted(test) == pairs[:4] and len(train) == 2


def test_closest_count_with_a_warning_when_groups_do_not_allow_it(caplog):
    pairs = [("a", str(i)) for i in range(5)] + [("b", f"x{i}") for i in range(5)]
    train, test = grouped_split(pairs, 0.2, 0)  # 2 wanted; only 5 is possible
    assert len(test) == 5 and len(train) == 5
    assert "held out 5 pairs instead of 2" in caplog.text


def test_deterministic_and_seed_sensitive():
    pairs = make_pairs()
    assert grouped_split(pairs, 0.2, 1) == grouped_split(pairs, 0.2, 1)
    assert grouped_split(pairs, 0.2, 1) != grouped_split(pairs, 0.2, 2)


def test_too_few_pairs():
    with pytest.raises(UserError, match="cannot split"):
        grouped_split([("a", "b")], 0.2, 0)


def test_one_connected_group_cannot_be_split_and_the_error_names_the_callers_param():
    pairs = [("a", str(i)) for i in range(5)] + [("b", str(i)) for i in range(5)]
    with pytest.raises(UserError, match=r"one group.*train\.valid_fraction"):
        grouped_split(pairs, 0.1, 0, "train.valid_fraction")


def test_split_file_is_byte_identical_and_its_stats_count_leaks(tmp_path):
    pairs = make_pairs()
    write_pairs(tmp_path / "pairs.tsv", pairs)
    # One extra pair per source, sharing that source: only those of training sources may join.
    write_pairs(tmp_path / "extra.tsv", [(f"source {i}", f"other {i}") for i in range(60)])
    for run in ("a", "b"):
        split_file(tmp_path / "pairs.tsv", tmp_path / "extra.tsv", tmp_path / f"train_{run}.tsv",
                   tmp_path / f"extra_{run}.tsv", tmp_path / f"test_{run}.tsv", tmp_path / f"stats_{run}.json",
                   0.2, 7, 1.0)
    for name in ("train", "extra", "test", "stats"):
        suffix = "json" if name == "stats" else "tsv"
        assert (tmp_path / f"{name}_a.{suffix}").read_bytes() == (tmp_path / f"{name}_b.{suffix}").read_bytes()
    test = read_pairs(tmp_path / "test_a.tsv")
    stats = json.loads((tmp_path / "stats_a.json").read_text())
    # make_pairs(60 sources): 15 of them (i % 4 == 1) link to the previous source, so 45 groups.
    assert len(test) == round(0.2 * len(pairs))
    assert {k: stats[k] for k in ("pairs", "test_pairs", "groups", "test_sources_in_train",
                                  "test_targets_in_train")} == {
        "pairs": len(pairs), "test_pairs": len(test), "groups": 45, "test_sources_in_train": 0,
        "test_targets_in_train": 0}
    test_sources = {s for s, _ in test}
    extra = read_pairs(tmp_path / "extra_a.tsv")
    assert {s for s, _ in extra} == {f"source {i}" for i in range(60)} - test_sources
    assert (stats["extra_pairs"], stats["extra_sharing_test_sentences"]) == (len(extra), len(test_sources))


def test_extra_pairs_never_carry_a_test_sentence():
    test = [("il est ici .", "he is here ."), ("je suis las .", "i m tired .")]
    extra = [("il est ici .", "he s around ."), ("va !", "go ."), ("je suis fatigue .", "i m tired ."),
             ("cours !", "run !"), ("viens !", "come !"), ("pars !", "leave !")]
    clean = [("va !", "go ."), ("cours !", "run !"), ("viens !", "come !"), ("pars !", "leave !")]
    assert extra_training_pairs(extra, test, 1.0, 0) == (clean, 2)
    assert extra_training_pairs(extra, test, 0.0, 0) == ([], 2)
    halves = [extra_training_pairs(extra, test, 0.5, seed)[0] for seed in range(10)]
    for half in halves:  # two of the four, in input order
        assert len(half) == 2 and half == [p for p in clean if p in half]
    assert len({tuple(h) for h in halves}) > 1  # the seed draws them
    # The leak counts cover the extra pairs: a test source among them counts.
    stats = split_stats(TEMPTING, TEMPTING[3:], TEMPTING[:3], extra=[("tu es grand .", "you re big .")])
    assert (stats["test_sources_in_train"], stats["test_targets_in_train"], stats["extra_pairs"]) == (1, 0, 1)


# Tatoeba's shape: one English sentence with several French translations, and one French sentence
# with several English ones. Grouped by source alone, "you are tall ." would sit on both sides.
TEMPTING = [("tu es grand .", "you are tall ."), ("vous etes grand .", "you are tall ."),
            ("vous etes grand .", "you re tall ."), ("il est ici .", "he is here ."),
            ("elle est ici .", "she is here ."), ("je suis las .", "i m tired ."),
            ("je suis fatigue .", "i m tired ."), ("nous sommes prets .", "we re ready .")]


def test_stats_count_what_leaks_and_the_split_leaks_nothing():
    # A split by source only, written by hand: "you are tall ." and "i m tired ." leak as targets.
    train, test = TEMPTING[:1] + TEMPTING[3:6], TEMPTING[1:3] + TEMPTING[6:]
    stats = split_stats(TEMPTING, train, test)
    assert (stats["test_sources_in_train"], stats["test_targets_in_train"]) == (0, 2)
    assert split_stats(TEMPTING, TEMPTING[1:], TEMPTING[:2])["test_sources_in_train"] == 1
    # Groups: {tu es, vous etes} x {you are, you re} = 3 pairs; {il est}, {elle est}; {las, fatigue} = 2
    # pairs; {nous sommes}: 5 groups, the largest of 3 pairs.
    assert (stats["groups"], stats["largest_group"], stats["pairs"]) == (5, 3, 8)
    for seed in range(20):
        train, test = grouped_split(TEMPTING, 0.25, seed)
        assert len(test) == 2
        stats = split_stats(TEMPTING, train, test)
        assert (stats["test_sources_in_train"], stats["test_targets_in_train"]) == (0, 0)

import random

import pytest

from seq2seq.data.split import grouped_split, split_file
from seq2seq.errors import UserError
from seq2seq.fileio import read_pairs, write_pairs


def make_pairs(n_sources=60, seed=0):
    rng = random.Random(seed)
    pairs = []
    for i in range(n_sources):
        for j in range(rng.choice([1, 1, 2, 3])):  # sources repeated with several translations
            pairs.append((f"source {i}", f"target {i} {j}"))
    return pairs


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_exact_size_and_no_source_on_both_sides(fraction):
    pairs = make_pairs()
    train, test = grouped_split(pairs, fraction, seed=3)
    assert len(test) == round(fraction * len(pairs))
    assert len(train) + len(test) == len(pairs)
    assert not {s for s, _ in train} & {s for s, _ in test}
    assert sorted(train + test) == sorted(pairs)


def test_deterministic_and_seed_sensitive():
    pairs = make_pairs()
    assert grouped_split(pairs, 0.2, 1) == grouped_split(pairs, 0.2, 1)
    assert grouped_split(pairs, 0.2, 1) != grouped_split(pairs, 0.2, 2)


def test_too_few_pairs():
    with pytest.raises(UserError, match="cannot split"):
        grouped_split([("a", "b")], 0.2, 0)


def test_error_names_the_fraction_param_of_the_caller():
    pairs = [("a", str(i)) for i in range(5)] + [("b", str(i)) for i in range(5)]
    with pytest.raises(UserError, match=r"raise train\.valid_fraction"):
        grouped_split(pairs, 0.1, 0, "train.valid_fraction")


def test_split_file_is_byte_identical(tmp_path):
    write_pairs(tmp_path / "pairs.tsv", make_pairs())
    for run in ("a", "b"):
        split_file(tmp_path / "pairs.tsv", tmp_path / f"train_{run}.tsv", tmp_path / f"test_{run}.tsv", 0.2, 7)
    assert (tmp_path / "train_a.tsv").read_bytes() == (tmp_path / "train_b.tsv").read_bytes()
    assert (tmp_path / "test_a.tsv").read_bytes() == (tmp_path / "test_b.tsv").read_bytes()
    assert len(read_pairs(tmp_path / "test_a.tsv")) == round(0.2 * len(make_pairs()))


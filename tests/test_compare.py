"""How `seq2seq compare` reads a side: revisions or params conditions, and which of the rows
`dvc exp show` lists a selection takes (hand-made rows in dvc.api.exp_show's shape)."""

import logging

import pytest

from seq2seq.errors import UserError
from seq2seq.evaluation.compare import load_side, parse_spec, select_experiments
from seq2seq.evaluation.translations import write_rows


def row(name, state="Success", typ="branch_commit", **params):
    base = {"encoder.bidirectional": "False", "train.seed": 1.0, "train.learning_rate": 0.002}
    base.update({k.replace("__", "."): v for k, v in params.items()})
    return {"Experiment": name, "rev": f"{name}-sha", "typ": typ, "State": state, **base}


ROWS = [
    {"Experiment": None, "rev": "workspace", "typ": "baseline", "State": None, "encoder.bidirectional": "False",
     "train.seed": 1.0, "train.learning_rate": 0.002},
    {"Experiment": None, "rev": "main", "typ": "baseline", "State": None, "encoder.bidirectional": "False",
     "train.seed": 1.0, "train.learning_rate": 0.002},
    row("bi1", encoder__bidirectional="True"), row("bi2", encoder__bidirectional="True", train__seed=2.0),
    row("uni2", train__seed=2.0), row("uni3", train__seed=3.0, state=None),
    row("queued", state="Queued", encoder__bidirectional="True", train__seed=3.0),
    row("failed", state="Failed", encoder__bidirectional="True", train__seed=4.0),
]


def test_a_side_is_revisions_or_conditions():
    assert parse_spec("HEAD") == (["HEAD"], {})
    assert parse_spec("main, seed2,seed3") == (["main", "seed2", "seed3"], {})
    assert parse_spec("encoder.bidirectional=true,train.seed=2") == (
        [], {"encoder.bidirectional": "true", "train.seed": "2"})
    for bad in ("", " , ", "HEAD,encoder.bidirectional=true"):
        with pytest.raises(UserError, match="cannot read the side"):
            parse_spec(bad)


def test_a_selection_takes_finished_experiments_only():
    # Not the workspace or the baseline commit (typ baseline); not queued or failed runs.
    assert select_experiments(ROWS, {"encoder.bidirectional": "true"}, "s") == ["bi1", "bi2"]
    assert select_experiments(ROWS, {"encoder.bidirectional": "false"}, "s") == ["uni2", "uni3"]
    assert select_experiments(ROWS, {"encoder.bidirectional": "True", "train.seed": "2"}, "s") == ["bi2"]


def test_values_compare_as_yaml_reads_them_and_numbers_as_numbers():
    rows = [row("small", train__learning_rate=5e-05), row("big", train__learning_rate=0.002)]
    for written in ("5e-5", "0.00005", "5e-05", "5.0e-5"):
        assert select_experiments(rows, {"train.learning_rate": written}, "s") == ["small"]
    assert select_experiments(rows, {"train.seed": "1"}, "s") == ["small", "big"]
    prefixed = [{**row("p"), "params.yaml:train.seed": 7.0}]  # a metric shares the name: dvc prefixes it
    del prefixed[0]["train.seed"]
    assert select_experiments(prefixed, {"train.seed": "7"}, "s") == ["p"]


def test_same_params_count_once_and_other_differences_are_named(caplog):
    rows = [row("again", train__seed=2.0), row("first", train__seed=2.0), row("lr", train__learning_rate=0.01)]
    with caplog.at_level(logging.WARNING, logger="seq2seq.compare"):
        chosen = select_experiments(rows, {"encoder.bidirectional": "false"}, "uni")
    assert chosen == ["again", "lr"]
    assert "first has the same params as again: counted once" in caplog.text
    assert "differ in train.learning_rate, not only in train.seed" in caplog.text


def test_unknown_keys_and_empty_selections_are_named():
    with pytest.raises(UserError, match="encoder.bidirectionl in 'encoder.bidirectionl=true' is not a param"):
        select_experiments(ROWS, {"encoder.bidirectionl": "true"}, "encoder.bidirectionl=true")
    with pytest.raises(UserError, match=r"no finished experiment matches 'x' among the 4"):
        select_experiments(ROWS, {"train.seed": "9"}, "x")


def test_a_side_may_be_a_translations_file_written_outside_dvc(tmp_path):
    # e.g. an ensemble scored with stages/evaluate.py and several --model: no DVC repository needed.
    for name, hypotheses in (("a.tsv", ["i am cold .", "he is tall ."]), ("b.tsv", ["i m cold .", "he is tall ."])):
        write_rows(tmp_path / name, ["je suis froid .", "il est grand ."], [["i am cold ."], ["he is tall ."]],
                   hypotheses)
    side = load_side(tmp_path, f"{tmp_path / 'a.tsv'},{tmp_path / 'b.tsv'}")
    assert side.runs == [str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv")]
    assert [t.hypotheses[0] for t in side.translations] == ["i am cold .", "i m cold ."]

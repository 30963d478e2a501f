"""Scoring on a model that knows its pairs by heart: each source once, against all its references."""

import pytest
import torch

from seq2seq.evaluation import ScoringSet, evaluate_file, evaluate_model
from seq2seq.fileio import write_pairs
from seq2seq.checkpoint import save_checkpoint
from tests.test_training import SOURCE, TARGET, overfit_model

# The model outputs "i am cold ." for "je suis froid ."; the test set gives that source a second,
# different reference, and repeats it after another source.
TEST = [("je suis froid .", "i am cold ."), ("tu es grand .", "you are tall ."),
        ("je suis froid .", "i m freezing .")]


@pytest.fixture(scope="module")
def model():
    model, loss = overfit_model()
    assert loss < 0.05
    return model


def test_each_source_once_against_all_its_references(model):
    data = ScoringSet.from_pairs(TEST, SOURCE, TARGET)
    assert data.sources == ["je suis froid .", "tu es grand ."]
    assert data.references == [["i am cold .", "i m freezing ."], ["you are tall ."]]
    result = evaluate_model(model, data, TARGET, 2, 10, torch.device("cpu"), n_bootstrap=100)
    assert result.hypotheses == ["i am cold .", "you are tall ."]
    m = result.metrics
    assert (m["n_test"], m["n_references"]) == (2, 3)
    # Both hypotheses equal one of their references: perfect multi-reference scores.
    assert m["bleu"] == pytest.approx(100.0) and m["chrf"] == pytest.approx(100.0)
    assert m["exact_match"] == 1.0 and m["bleu_ci95"] == 0.0
    # Scored pair by pair, "i am cold ." against "i m freezing ." alone shares only the final "."
    assert m["bleu_single_ref"] < 90.0
    assert "nrefs:var" in result.signatures["bleu_signature"]
    assert "nrefs:1" in result.signatures["bleu_single_ref_signature"]


def test_samples_show_every_reference(model, tmp_path):
    save_checkpoint(tmp_path / "model.pt", model, SOURCE, TARGET, {"max_length": 10})
    write_pairs(tmp_path / "test.tsv", TEST)
    metrics = evaluate_file(tmp_path / "model.pt", tmp_path / "test.tsv", tmp_path / "metrics.json",
                            tmp_path / "samples.tsv", tmp_path / "signatures.json", 2, 10, 5, 0, "cpu")
    assert "bleu_ci95" not in metrics  # 0 bootstrap samples: no interval
    assert (tmp_path / "samples.tsv").read_text().splitlines() == [
        "source\treferences\tprediction",
        "je suis froid .\ti am cold . | i m freezing .\ti am cold .",
        "tu es grand .\tyou are tall .\tyou are tall ."]


def test_checkpoint_bytes_repeat(model, tmp_path):
    for name in ("a.pt", "b.pt"):
        save_checkpoint(tmp_path / name, model, SOURCE, TARGET, {"max_length": 10})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()

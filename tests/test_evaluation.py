"""Scoring on a model that knows its pairs by heart: each source once, against all its references."""

from dataclasses import replace

import pytest
import torch

from seq2seq.checkpoint import save_checkpoint
from seq2seq.config import EvaluateConfig
from seq2seq.evaluation.breakdown import breakdown
from seq2seq.evaluation.evaluator import EvaluationOutputs, evaluate_file
from seq2seq.evaluation.metrics import sentence_statistics
from seq2seq.evaluation.scoring import ScoringSet, evaluate_model
from seq2seq.fileio import write_pairs
from tests.conftest import SOURCE, TARGET, overfit

# The model outputs "i am cold ." for "je suis froid ."; the test set gives that source a second,
# different reference, and repeats it after another source.
TEST = [("je suis froid .", "i am cold ."), ("tu es grand .", "you are tall ."),
        ("je suis froid .", "i m freezing .")]


@pytest.fixture(scope="module")
def model():
    model, loss = overfit(dec={"attention": "general"})
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


def test_evaluate_file_writes_samples_report_and_heatmaps(model, tmp_path):
    # Training saw only "je suis ...": the second test source's words are all unseen.
    save_checkpoint(tmp_path / "model.pt", model, SOURCE, TARGET, {"max_length": 10}, ["je", "suis", "froid", "."])
    write_pairs(tmp_path / "test.tsv", TEST)
    out = EvaluationOutputs(tmp_path / "metrics.json", tmp_path / "samples.tsv", tmp_path / "translations.tsv",
                            tmp_path / "signatures.json", tmp_path / "report.tsv", tmp_path / "attention")
    cfg = EvaluateConfig(batch_size=2, max_output_length=10, num_samples=1, bootstrap_samples=0,
                         attention_plots=2, device="cpu")
    metrics = evaluate_file(tmp_path / "model.pt", tmp_path / "test.tsv", out, cfg)
    assert "bleu_ci95" not in metrics  # 0 bootstrap samples: no interval
    # Every distinct source once, with all of its references; the samples are a subset of those rows.
    assert (tmp_path / "translations.tsv").read_text().splitlines() == [
        "source\treferences\tprediction",
        "je suis froid .\ti am cold . | i m freezing .\ti am cold .",
        "tu es grand .\tyou are tall .\tyou are tall ."]
    assert (tmp_path / "samples.tsv").read_text().splitlines() == [
        "source\treferences\tprediction", "je suis froid .\ti am cold . | i m freezing .\ti am cold ."]
    # Both sources have 4 tokens; one has unseen words; every translation is right.
    assert (tmp_path / "report.tsv").read_text().splitlines() == [
        "group\tsentences\tbleu\tchrf", "4-5 tokens\t2\t100.0\t100.0",
        "all words seen\t1\t100.0\t100.0", "unseen word\t1\t100.0\t100.0"]
    images = sorted(p.name for p in (tmp_path / "attention").iterdir())
    assert images == ["01.png", "02.png"]
    first = (tmp_path / "attention" / "01.png").read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    # A rerun rewrites the folder with the same bytes (nothing left over, nothing that varies).
    evaluate_file(tmp_path / "model.pt", tmp_path / "test.tsv", out, replace(cfg, attention_plots=1))
    assert sorted(p.name for p in (tmp_path / "attention").iterdir()) == ["01.png"]
    assert (tmp_path / "attention" / "01.png").read_bytes() == first


def test_report_groups_by_length_and_novelty():
    sources = ["a b", "a b c d e", "a z", "a b c d e f g h i j k"]
    references = [["x y"], ["x y z w v"], ["x q"], ["p q r s t"]]
    # Right for the first two sources, wholly wrong (no shared character) for the last two.
    hypotheses = ["x y", "x y z w v", "m", "m"]
    table = breakdown(sources, sentence_statistics(hypotheses, references), known_words={"a", "b", "c", "d", "e"})
    rows = {r.group: (r.sentences, r.bleu, r.chrf) for r in table.itertuples()}
    assert list(rows) == ["1-3 tokens", "4-5 tokens", "10+ tokens", "all words seen", "unseen word"]
    assert rows["1-3 tokens"][0] == 2 and rows["4-5 tokens"] == (1, 100.0, 100.0)
    assert rows["10+ tokens"] == (1, 0.0, 0.0) and rows["all words seen"] == (2, 100.0, 100.0)
    assert rows["unseen word"] == (2, 0.0, 0.0)


def test_checkpoint_bytes_repeat(model, tmp_path):
    for name in ("a.pt", "b.pt"):
        save_checkpoint(tmp_path / name, model, SOURCE, TARGET, {"max_length": 10})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()

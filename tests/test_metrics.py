import pytest

from seq2seq.evaluation import sample_rows
from seq2seq.metrics import corpus_scores


def test_perfect_and_disjoint_scores():
    refs = ["i am cold .", "you are very tall ."]
    perfect = corpus_scores(refs, refs)
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert corpus_scores(["xyz qqq", "zzz www"], refs)["bleu"] == pytest.approx(0.0)
    assert "13a" in perfect["bleu_signature"] and "nc:6" in perfect["chrf_signature"]


def test_known_partial_bleu():
    # 4-gram BLEU of a hypothesis sharing a 5-token prefix with a 6-token reference:
    # precisions 5/6, 4/5, 3/4, 2/3 and a brevity penalty of 1 -> exp(mean(log p)) = 0.7598...
    score = corpus_scores(["a b c d e x"], ["a b c d e f"])["bleu"]
    assert score == pytest.approx(75.98, abs=0.01)


def test_sample_rows_spread_evenly():
    assert sample_rows(10, 5) == [0, 2, 4, 6, 8]
    assert sample_rows(3, 10) == [0, 1, 2]
    assert sample_rows(5, 0) == []

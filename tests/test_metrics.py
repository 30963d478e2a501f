import numpy as np
import pytest
import sacrebleu

from seq2seq.evaluation.evaluator import sample_rows
from seq2seq.evaluation.metrics import SentenceStatistics, reference_streams, sentence_statistics, summarise


def corpus_scores(hypotheses, references, n_bootstrap=0):
    """BLEU and chrF of the hypotheses, with signatures (and intervals), as the evaluate stage reports them."""
    return summarise(sentence_statistics(hypotheses, references), n_bootstrap)


def test_perfect_and_disjoint_scores():
    refs = ["i am cold .", "you are very tall ."]
    perfect = corpus_scores(refs, [[r] for r in refs])
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert corpus_scores(["xyz qqq", "zzz www"], [[r] for r in refs])["bleu"] == pytest.approx(0.0)
    assert "13a" in perfect["bleu_signature"] and "nc:6" in perfect["chrf_signature"]
    assert "nrefs:1" in perfect["bleu_signature"]


def test_known_partial_bleu():
    # 4-gram BLEU of a hypothesis sharing a 5-token prefix with a 6-token reference:
    # precisions 5/6, 4/5, 3/4, 2/3 and a brevity penalty of 1 -> exp(mean(log p)) = 0.7598...
    score = corpus_scores(["a b c d e x"], [["a b c d e f"]])["bleu"]
    assert score == pytest.approx(75.98, abs=0.01)


def test_every_reference_counts_and_each_sentence_only_its_own():
    # The hypothesis matches the second of two references exactly: 100 with both, 75.98 with the
    # first alone (the case above).
    assert corpus_scores(["a b c d e x"], [["a b c d e f", "a b c d e x"]])["bleu"] == pytest.approx(100.0)
    # A varying number of references: sentence 2 has one, and sentence 1's second reference must not
    # be borrowed for it. Both hypotheses equal one of their own references -> 100.
    both = corpus_scores(["a b c d", "e f g h"], [["x y z w", "a b c d"], ["e f g h"]])
    assert both["bleu"] == pytest.approx(100.0) and "nrefs:var" in both["bleu_signature"]
    # Sentence 2's hypothesis equals sentence 1's second reference only: it must not score.
    mixed = corpus_scores(["a b c d", "a b c d"], [["x y z w", "a b c d"], ["e f g h"]])
    assert mixed["bleu"] < 80.0


def test_scores_summed_from_sentence_statistics_equal_sacrebleus_own():
    # Partial matches, a varying number of references, an empty output: any group of the sentences
    # scored from the statistics extracted once must equal sacrebleu scoring that group afresh.
    hyps = ["i am cold .", "you are tall .", "he is here now .", "", "we are late , sorry .", "she is ."]
    refs = [["i am cold ."], ["you are very tall .", "you re tall ."], ["he is here ."], ["no ."],
            ["we are late .", "we re late .", "sorry , we are late ."], ["she is out ."]]
    groups = [np.ones(6, bool), np.array([1, 0, 1, 0, 1, 0], bool), np.array([0, 1, 1, 1, 0, 1], bool),
              np.array([0, 0, 0, 0, 1, 0], bool)]
    for name in ("bleu", "chrf"):
        stats = SentenceStatistics(name, hyps, refs)
        for rows in groups:
            picked = [i for i in range(6) if rows[i]]
            metric = sacrebleu.metrics.BLEU(force=True) if name == "bleu" else sacrebleu.metrics.CHRF()
            own = metric.corpus_score([hyps[i] for i in picked], reference_streams([refs[i] for i in picked]))
            assert stats.score(rows) == own.score
            if rows.all():
                assert stats.signature == str(metric.get_signature()) and "nrefs:var" in stats.signature
                assert 0 < stats.score() < 100


def test_bootstrap_half_width_equals_sacrebleu_on_the_resampled_corpora():
    # Each resample draws the sentences with replacement; scoring each drawn corpus afresh with
    # sacrebleu and taking the 2nd and 39th of 40 sorted scores (sacrebleu's 2.5th and 97.5th
    # percentiles) must give the interval the summed statistics give.
    hyps = ["i am cold .", "you are tall .", "he is here now .", "we are late , sorry .", "she is .", "xx"]
    refs = [["i am cold ."], ["you are very tall .", "you re tall ."], ["he is here ."],
            ["we are late .", "sorry , we are late ."], ["she is out ."], ["they are ."]]
    n, seed = 40, 7
    draws = np.random.default_rng(seed).multinomial(6, np.full(6, 1 / 6), size=n)
    for name in ("bleu", "chrf"):
        scores = []
        for row in draws:
            picked = [i for i in range(6) for _ in range(row[i])]
            metric = sacrebleu.metrics.BLEU(force=True) if name == "bleu" else sacrebleu.metrics.CHRF()
            drawn = metric.corpus_score([hyps[i] for i in picked], reference_streams([refs[i] for i in picked]))
            scores.append(drawn.score)
        scores.sort()
        assert SentenceStatistics(name, hyps, refs).ci95(n, seed) == 0.5 * (scores[n - 2] - scores[1]) > 0


def test_statistics_need_one_reference_list_per_hypothesis():
    with pytest.raises(ValueError, match="2 hypotheses and 1 reference lists"):
        SentenceStatistics("bleu", ["a b", "c d"], [["a b"]])
    with pytest.raises(ValueError, match="unknown metric 'blue'"):
        SentenceStatistics("blue", ["a b"], [["a b"]])


def test_reference_streams_pad_with_none():
    assert reference_streams([["a", "b"], ["c"]]) == [["a", "c"], ["b", None]]


def test_bootstrap_half_width_is_zero_for_uniform_sentences_and_positive_otherwise():
    # Every sentence perfect: every resample scores 100, so the interval has no width.
    same = corpus_scores(["a b c d"] * 30, [["a b c d"]] * 30, n_bootstrap=200)
    assert same["bleu_ci95"] == 0.0 and same["chrf_ci95"] == 0.0
    # Half perfect, half wrong: resamples differ, so the interval is wide; reruns repeat it.
    hyps = ["a b c d"] * 15 + ["q r s t"] * 15
    refs = [["a b c d"]] * 30
    first, second = corpus_scores(hyps, refs, n_bootstrap=200), corpus_scores(hyps, refs, n_bootstrap=200)
    assert first["bleu_ci95"] > 5.0 and first["chrf_ci95"] > 5.0
    assert first == second
    assert "bleu_ci95" not in corpus_scores(hyps, refs)


def test_sample_rows_spread_evenly():
    assert sample_rows(10, 5) == [0, 2, 4, 6, 8]
    assert sample_rows(3, 10) == [0, 1, 2]
    assert sample_rows(5, 0) == []

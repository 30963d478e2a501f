"""Paired tests on tiny hand-built systems whose answers are known without the code under test."""

import math

import pytest

from seq2seq.evaluation.metrics import sentence_statistics, summarise
from seq2seq.evaluation.significance import compare_metric, verdict

# 30 sentences of four words. WRONG shares no character with any reference, so it scores 0 on both
# metrics; RIGHT is the references themselves, 100.
REFS = [[f"the cat number {'abcdefghij'[i % 10]} sat {'klmnop'[i % 6]}"] for i in range(30)]
RIGHT = [refs[0] for refs in REFS]
WRONG = ["zz yy xx ww vv" for _ in REFS]
BLEU_TRIALS, RESAMPLES = 2000, 400


@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_identical_outputs_differ_by_nothing_with_p_one(name):
    half = RIGHT[:15] + WRONG[15:]
    c = compare_metric(name, [half], [list(half)], REFS, RESAMPLES, BLEU_TRIALS)
    assert c.a == c.b and c.delta == 0.0 and c.ci95 == (0.0, 0.0)
    assert c.p_value == 1.0  # every trial's difference (0) is as large as the observed one (0)


@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_right_everywhere_against_wrong_everywhere_is_at_the_p_floor(name):
    c = compare_metric(name, [WRONG], [RIGHT], REFS, RESAMPLES, BLEU_TRIALS)
    assert (c.a, c.b, c.delta) == (0.0, 100.0, 100.0)
    assert c.ci95 == (100.0, 100.0)  # every resample: the same sentences, all right against all wrong
    # A trial reaches |100| only by swapping all 30 sentences or none: chance 2 ** -29 per trial.
    assert c.p_value == 1 / (BLEU_TRIALS + 1)
    assert verdict({name: c}) == f"B is better than A on {'BLEU' if name == 'bleu' else 'chrF'} (p = 0.0005)"


def test_a_difference_carried_by_one_sentence_is_not_significant():
    # Both systems are right on 29 sentences; on the last, B is right and A has four wrong words.
    a, b = RIGHT[:29] + ["zz yy xx ww vv"], list(RIGHT)
    c = compare_metric("bleu", [a], [b], REFS, RESAMPLES, BLEU_TRIALS)
    assert c.delta > 0
    # Every swap leaves the same two corpora (the sentences other than the last are equal), so every
    # trial's |difference| equals the observed one.
    assert c.p_value == 1.0
    # About (1 - 1/30) ** 30 = 36% of resamples miss the last sentence and differ by exactly 0.
    assert c.ci95[0] == 0.0 and c.ci95[1] >= c.delta
    assert verdict({"bleu": c}) == "no significant difference at the 0.05 level on BLEU (p = 1)"


def test_several_references_of_varying_counts_are_scored_as_evaluate_scores_them():
    refs = [["i am cold .", "i m freezing .", "i feel cold ."], ["you are tall ."],
            ["he is here .", "he s here ."], ["we are late .", "we re late ."]]
    # Each hypothesis equals one of its references, never only the first: 100 multi-reference.
    hyps = ["i feel cold .", "you are tall .", "he s here .", "we re late ."]
    other = ["i am freezing .", "you are big .", "he is here .", "we are early ."]
    for name in ("bleu", "chrf"):
        c = compare_metric(name, [hyps], [other], refs, RESAMPLES, 200)
        assert c.a == 100.0
        assert c.b == summarise(sentence_statistics(other, refs))[name] < 100.0


def test_several_runs_report_mean_and_spread_and_their_p_counts_the_runs():
    # A's two seeds: one perfect, one all wrong; B's two seeds both perfect. Sentences cannot explain
    # the gap (every sentence agrees with its run), only which runs are drawn: resampling A's runs
    # gives both perfect (1/4, difference 0), both wrong (1/4, difference 100) or one of each
    # (1/2, difference 50); half the resamples lie 50 or more from the observed 50.
    c = compare_metric("bleu", [RIGHT, WRONG], [RIGHT, RIGHT], REFS, RESAMPLES, 4000)
    assert (c.a, c.b, c.delta) == (50.0, 100.0, 50.0)
    assert c.a_runs == (100.0, 0.0) and c.b_runs == (100.0, 100.0)
    assert c.a_std == pytest.approx(100 / math.sqrt(2), abs=1e-4) and c.b_std == 0.0
    assert 0.45 < c.p_value < 0.55
    assert c.ci95 == (0.0, 100.0)


def test_several_runs_identical_or_apart():
    same = compare_metric("bleu", [RIGHT, WRONG], [RIGHT, WRONG], REFS, RESAMPLES, 1000)
    # Observed difference 0: every resample is at least as far from the centre, so p = 1.
    assert same.delta == 0.0 and same.p_value == 1.0
    apart = compare_metric("bleu", [WRONG] * 3, [RIGHT] * 3, REFS, RESAMPLES, 1000)
    assert apart.delta == 100.0 and apart.p_value == 1 / 1001 and apart.a_std == apart.b_std == 0.0


def test_resampling_is_seeded():
    a, b = RIGHT[:20] + WRONG[20:], RIGHT[:25] + WRONG[25:]
    first = compare_metric("chrf", [a], [b], REFS, RESAMPLES, 500, seed=7)
    assert compare_metric("chrf", [a], [b], REFS, RESAMPLES, 500, seed=7) == first
    assert compare_metric("chrf", [a], [b], REFS, RESAMPLES, 500, seed=8) != first


def test_verdict_names_each_metric():
    better = compare_metric("bleu", [WRONG], [RIGHT], REFS, RESAMPLES, 200)
    worse = compare_metric("chrf", [RIGHT], [WRONG], REFS, RESAMPLES, 200)
    same = compare_metric("chrf", [RIGHT], [RIGHT], REFS, RESAMPLES, 200)
    assert verdict({"bleu": better, "chrf": worse}) == ("B is better than A on BLEU (p = 0.005); "
                                                       "B is worse than A on chrF (p = 0.005)")
    assert verdict({"bleu": better, "chrf": same}, alpha=0.001) == (
        "no significant difference at the 0.001 level on BLEU (p = 0.005) or chrF (p = 1)")

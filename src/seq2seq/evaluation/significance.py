"""Is B better than A? Paired tests on the same test sources, for BLEU and chrF scored exactly as the
evaluate stage scores them (each source against all of its references).

All three tests resample sentence statistics (sacrebleu's sufficient statistics: for BLEU, n-gram
matches clipped by the most any reference allows, totals, the output's length and the closest
reference length; for chrF, character n-gram counts against the sentence's best reference), so every
corpus score they compute is sacrebleu's own, from summed statistics:

- `bootstrap_deltas`: paired bootstrap resampling (Koehn 2004) of B - A, for its 95% interval. Each
  resample draws the sentences with replacement, the same draw for both systems. With several runs
  per side (training seeds), each resample also draws each side's runs with replacement: a two-level
  bootstrap, so the interval carries the run-to-run spread as well as the sentence sampling.
- `randomization_p_value`: paired approximate randomization (Riezler and Maxwell 2005; sacrebleu's
  `--paired-ar`), one run against one: each trial swaps each sentence's two translations with
  probability 1/2.
- `bootstrap_p_value`: with several runs per side, the two-level bootstrap's p-value (its
  differences shifted to centre on none). A randomization that swaps sentences between runs would mix every
  run's strengths into every pseudo-run and so ignore how much seeds differ; resampling whole runs
  keeps that spread in the null distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sacrebleu.metrics.base import Metric

from seq2seq.evaluation.metrics import BOOTSTRAP_SEED, SentenceStatistics, interval95, scores_from_sums

NAMES = {"bleu": "BLEU", "chrf": "chrF"}
CHUNK = 1000  # resamples or trials scored per matrix product, to bound memory


def _chunks(total: int):
    for start in range(0, total, CHUNK):
        yield min(CHUNK, total - start)


def bootstrap_deltas(metric: Metric, runs_a: Sequence[np.ndarray], runs_b: Sequence[np.ndarray],
                     n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples,) resampled differences mean over B's runs - mean over A's runs.

    runs_a[i], runs_b[j]: (sentences, stats) of one run each, on the same sentences in one order.
    """
    runs = [np.asarray(r, dtype=np.float64) for r in (*runs_a, *runs_b)]
    m, k, n = len(runs_a), len(runs_b), runs[0].shape[0]
    rng = np.random.default_rng(seed)
    deltas = []
    for size in _chunks(n_resamples):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)  # (size, sentences)
        scores = np.stack([scores_from_sums(metric, counts @ run) for run in runs], axis=1)  # (size, m + k)
        pick_a = rng.integers(m, size=(size, m))  # runs drawn with replacement within each side
        pick_b = m + rng.integers(k, size=(size, k))
        deltas.append(np.take_along_axis(scores, pick_b, 1).mean(1) - np.take_along_axis(scores, pick_a, 1).mean(1))
    return np.concatenate(deltas)


def randomization_p_value(metric: Metric, stats_a: np.ndarray, stats_b: np.ndarray, observed: float,
                          n_trials: int, seed: int) -> float:
    """Two-sided p-value of the `observed` score(B) - score(A) by paired approximate randomization.

    p = (1 + trials whose |difference| >= the observed one) / (1 + n_trials): identical systems get
    p = 1, and no p is below 1 / (1 + n_trials). (sacrebleu counts only > and so gives identical
    systems the smallest p; >= is the textbook count, Noreen 1989.)
    """
    observed = abs(observed)
    sum_a, sum_b = stats_a.sum(0).astype(np.float64), stats_b.sum(0).astype(np.float64)
    moved_by_swap = (stats_b - stats_a).astype(np.float64)  # what swapping sentence s moves from B to A
    rng = np.random.default_rng(seed)
    hits = 0
    for size in _chunks(n_trials):
        swap = rng.integers(2, size=(size, len(stats_a))).astype(np.float64)  # (size, sentences)
        moved = swap @ moved_by_swap  # (size, stats)
        deltas = scores_from_sums(metric, sum_b - moved) - scores_from_sums(metric, sum_a + moved)
        hits += int(np.sum(np.abs(deltas) >= observed))
    return (hits + 1) / (n_trials + 1)


def bootstrap_p_value(deltas: np.ndarray, observed: float) -> float:
    """Two-sided p-value of `observed` from resampled differences shifted by it (so that they
    centre on no difference, as Efron and Tibshirani's bootstrap test does; Berg-Kirkpatrick et al.
    2012 count the one-sided half): (1 + resamples at least |observed| from it) / (1 + resamples)."""
    hits = int(np.sum(np.abs(deltas - observed) >= abs(observed)))
    return (hits + 1) / (len(deltas) + 1)


@dataclass(frozen=True)
class MetricComparison:
    """One metric, A against B. With one run per side, `a` and `b` are the runs' scores."""

    a: float  # mean over A's runs, rounded as the evaluate stage rounds
    b: float
    delta: float  # b - a
    ci95: tuple[float, float]  # of the delta, from the (two-level) paired bootstrap
    p_value: float
    a_std: float  # sample standard deviation over runs; 0.0 with one run
    b_std: float
    a_runs: tuple[float, ...]  # each run's score
    b_runs: tuple[float, ...]


def compare_metric(name: str, hypotheses_a: Sequence[Sequence[str]], hypotheses_b: Sequence[Sequence[str]],
                   references: Sequence[Sequence[str]], n_bootstrap: int, n_trials: int,
                   seed: int = BOOTSTRAP_SEED) -> MetricComparison:
    """Compare the runs of A with the runs of B on metric `name` (bleu or chrf).

    hypotheses_a[i][s]: run i of A's translation of sentence s; references[s]: all of its references.
    The p-value comes from approximate randomization with `n_trials` trials when each side has one
    run, else from a two-level bootstrap of `n_trials` resamples; the interval always from a
    bootstrap of `n_bootstrap` resamples (at least 40).
    """
    if n_bootstrap < 40 or n_trials < 1:
        raise ValueError(f"need at least 40 resamples and 1 trial, got {n_bootstrap} and {n_trials}")
    stats = SentenceStatistics.of_runs(name, [*hypotheses_a, *hypotheses_b], references)
    stats_a, stats_b = stats[:len(hypotheses_a)], stats[len(hypotheses_a):]
    metric, runs_a, runs_b = stats_a[0].metric, [s.rows for s in stats_a], [s.rows for s in stats_b]
    raw_a = [s.score() for s in stats_a]  # unrounded: the tests compare these
    raw_b = [s.score() for s in stats_b]
    observed = float(np.mean(raw_b)) - float(np.mean(raw_a))
    a_runs, b_runs = tuple(round(x, 4) for x in raw_a), tuple(round(x, 4) for x in raw_b)
    a, b = round(float(np.mean(a_runs)), 4), round(float(np.mean(b_runs)), 4)
    lo, hi = interval95(bootstrap_deltas(metric, runs_a, runs_b, n_bootstrap, seed))
    if len(runs_a) == len(runs_b) == 1:
        p = randomization_p_value(metric, runs_a[0], runs_b[0], observed, n_trials, seed)
    else:
        p = bootstrap_p_value(bootstrap_deltas(metric, runs_a, runs_b, n_trials, seed), observed)
    std = lambda runs: round(float(np.std(runs, ddof=1)), 4) if len(runs) > 1 else 0.0  # noqa: E731
    return MetricComparison(a, b, round(b - a, 4), (round(lo, 4), round(hi, 4)), p, std(a_runs), std(b_runs),
                            a_runs, b_runs)


def verdict(comparisons: dict[str, MetricComparison], alpha: float = 0.05) -> str:
    """One line: which side is better on which metric, or that no difference is significant."""
    found, none = [], []
    for name, c in comparisons.items():
        p = f"p = {c.p_value:.2g}"
        if c.p_value < alpha and c.delta != 0:
            found.append(f"B is {'better' if c.delta > 0 else 'worse'} than A on {NAMES[name]} ({p})")
        else:
            none.append(f"{NAMES[name]} ({p})")
    if none:
        found.append(f"no significant difference at the {alpha:g} level on {' or '.join(none)}")
    return "; ".join(found)

"""Multi-reference corpus BLEU and chrF with sacrebleu: per-sentence statistics, corpus scores from
their sums, and bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sacrebleu
from sacrebleu.metrics.base import Metric

BOOTSTRAP_SEED = 12345  # sacrebleu's default seed for its bootstrap
METRICS = ("bleu", "chrf")


def reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, `None` where a sentence has fewer
    references than the most any sentence has (sacrebleu skips `None`, so each sentence is scored
    against exactly its own references)."""
    width = max((len(refs) for refs in references), default=1)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def make_metric(name: str, references: Sequence[Sequence[str]]) -> Metric:
    """sacrebleu's BLEU (`bleu`) or chrF (`chrf`), configured as every score here computes it, with
    the n-grams of `references` (each sentence's list) extracted once, for every output scored
    against them. Our text is already normalised and tokenised; `force` silences BLEU's warning
    about that."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}: expected one of {', '.join(METRICS)}")
    streams = reference_streams(references)
    return sacrebleu.metrics.BLEU(force=True, references=streams) if name == "bleu" else \
        sacrebleu.metrics.CHRF(references=streams)


def score_from_sum(metric: Metric, summed: np.ndarray) -> float:
    """The corpus score (0-100) from statistics summed over sentences, (stats,): handed to sacrebleu
    as Python integers, as its own `corpus_score` sums them."""
    return float(metric._compute_score_from_stats([int(v) for v in np.rint(summed)]).score)


def scores_from_sums(metric: Metric, summed: np.ndarray) -> np.ndarray:
    """Corpus scores of each row of summed statistics: (rows, stats) -> (rows,)."""
    return np.array([score_from_sum(metric, row) for row in summed])


def interval95(values: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of resampled values, as sacrebleu's confidence intervals
    take them."""
    ordered, low = np.sort(values), len(values) // 40
    return float(ordered[low]), float(ordered[len(values) - low - 1])


class SentenceStatistics:
    """One metric's sacrebleu statistics for each sentence against all of its references: for BLEU,
    n-gram matches clipped by the most any reference allows, n-gram totals, the output's length and
    the closest reference length; for chrF, character n-gram counts against the best reference.

    Extracting them (the n-grams of every sentence) is the costly part of scoring; they are
    extracted once, and the score of the corpus, of any group of its sentences or of a bootstrap
    resample sums rows of them. sacrebleu's `corpus_score` computes the same sums, so every score
    equals its own (a test checks)."""

    def __init__(self, name: str, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                 metric: Metric | None = None):
        """`metric`: `make_metric(name, references)` shared by several outputs scored against the
        same references (`of_runs`), so that their n-grams are extracted once."""
        if not hypotheses or len(hypotheses) != len(references):
            raise ValueError(f"need one list of references per hypothesis, and at least one: got "
                             f"{len(hypotheses)} hypotheses and {len(references)} reference lists")
        self.metric = metric if metric is not None else make_metric(name, references)
        stats = self.metric._extract_corpus_statistics(list(hypotheses), None)  # the cached references
        self.rows = np.asarray(stats, dtype=np.int64)  # (sentences, stats)
        self.signature = str(self.metric.get_signature())  # after extraction: it names the reference count

    def score(self, rows: np.ndarray | slice = slice(None)) -> float:
        """The corpus score of the sentences `rows` selects (a boolean mask or indices; all by default)."""
        return score_from_sum(self.metric, self.rows[rows].sum(0))

    @classmethod
    def of_runs(cls, name: str, runs: Sequence[Sequence[str]],
                references: Sequence[Sequence[str]]) -> list[SentenceStatistics]:
        """The statistics of each run's outputs against the same references."""
        metric = make_metric(name, references)
        return [cls(name, hypotheses, references, metric) for hypotheses in runs]

    def ci95(self, n_samples: int, seed: int = BOOTSTRAP_SEED) -> float:
        """Half-width of the 95% confidence interval of the corpus score by bootstrap resampling of
        the sentences, as sacrebleu's own `--confidence` does (the 2.5th to 97.5th percentile).

        sacrebleu's `corpus_score(n_bootstrap=...)` fails for chrF (float32 statistics) and seeds from
        an environment variable; this resamples the same statistics with its own seed and sums them
        as one integer matrix product: (n_samples, sentences) counts @ (sentences, stats).
        """
        if n_samples < 40:
            raise ValueError(f"the 2.5th and 97.5th percentiles need at least 40 resamples, got {n_samples}")
        n = len(self.rows)
        counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_samples)
        low, high = interval95(scores_from_sums(self.metric, counts @ self.rows))
        return 0.5 * (high - low)


def sentence_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                        names: Sequence[str] = METRICS) -> dict[str, SentenceStatistics]:
    """Each metric's statistics of the hypotheses, each against all of its references."""
    return {name: SentenceStatistics(name, hypotheses, references) for name in names}


def summarise(stats: dict[str, SentenceStatistics], n_bootstrap: int = 0) -> dict[str, float | str]:
    """Each metric's corpus score rounded to 4 places (`bleu`, `chrf`) and its sacrebleu signature
    (`bleu_signature`, ...); with `n_bootstrap` (0, or at least 40) also the half-width of its 95%
    confidence interval (`bleu_ci95`, ...; see `SentenceStatistics.ci95`)."""
    out: dict[str, float | str] = {name: round(s.score(), 4) for name, s in stats.items()}
    out.update((f"{name}_signature", s.signature) for name, s in stats.items())
    if n_bootstrap:
        out.update((f"{name}_ci95", round(s.ci95(n_bootstrap), 4)) for name, s in stats.items())
    return out


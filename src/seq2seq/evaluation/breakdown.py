"""Where a model gains or loses: BLEU and chrF by source length and by whether the source has a
word never seen in training, as a small table (a DVC plot and a TSV a pull request shows)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from seq2seq.data.text import tokenize
from seq2seq.evaluation.metrics import SentenceStatistics

REPORT_COLUMNS = ("group", "sentences", "bleu", "chrf")
LENGTH_EDGES = (0, 3, 5, 7, 9)  # source tokens (words and punctuation): 1-3, 4-5, 6-7, 8-9, 10+


def _length_label(words: int) -> str:
    for low, high in zip(LENGTH_EDGES, LENGTH_EDGES[1:]):
        if words <= high:
            return f"{low + 1}-{high} tokens"
    return f"{LENGTH_EDGES[-1] + 1}+ tokens"


def breakdown(sources: Sequence[str], stats: Mapping[str, SentenceStatistics],
              known_words: Collection[str]) -> pd.DataFrame:
    """One row per group of test sources: length buckets (source tokens as prepare counts them), then
    sources with a word outside `known_words` (the training split's source words) and sources
    without; each with its sentence count and multi-reference corpus BLEU and chrF, summed from the
    sentences' statistics `stats` (`bleu` and `chrf`, one row per source in order). Empty groups are
    left out; all rows together cover every source twice (once by length, once by novelty)."""
    if any(len(s.rows) != len(sources) for s in stats.values()):
        raise ValueError(f"need one row of statistics per source: {len(sources)} sources, "
                         f"{', '.join(f'{len(s.rows)} {name} rows' for name, s in stats.items())}")
    words = [tokenize(s) for s in sources]
    length = np.array([_length_label(len(w)) for w in words])
    novelty = np.array(["unseen word" if any(t not in known_words for t in w) else "all words seen" for w in words])
    order = [_length_label(high) for high in LENGTH_EDGES[1:]] + [_length_label(math.inf)]
    rows = []
    for column, groups in ((length, order), (novelty, ["all words seen", "unseen word"])):
        for name in groups:
            part = column == name
            if part.any():
                rows.append({"group": name, "sentences": int(part.sum()),
                             "bleu": round(stats["bleu"].score(part), 4), "chrf": round(stats["chrf"].score(part), 4)})
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))

"""Where a model gains or loses: BLEU and chrF by source length and by whether the source has a
word never seen in training, as a small table (a DVC plot and a TSV a pull request shows)."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import pandas as pd

from seq2seq.data.text import tokenize
from seq2seq.evaluation.metrics import corpus_scores

REPORT_COLUMNS = ("group", "sentences", "bleu", "chrf")
LENGTH_EDGES = (0, 3, 5, 7, 9)  # source tokens (words and punctuation): 1-3, 4-5, 6-7, 8-9, 10+


def _length_label(words: int) -> str:
    for low, high in zip(LENGTH_EDGES, LENGTH_EDGES[1:]):
        if words <= high:
            return f"{low + 1}-{high} tokens"
    return f"{LENGTH_EDGES[-1] + 1}+ tokens"


def breakdown(sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[Sequence[str]],
              known_words: Collection[str]) -> pd.DataFrame:
    """One row per group of test sources: length buckets (source tokens as prepare counts them), then
    sources with a word outside `known_words` (the training split's source words) and sources
    without; each with its sentence count and multi-reference corpus BLEU and chrF. Empty groups
    are left out; all rows together cover every source twice (once by length, once by novelty)."""
    frame = pd.DataFrame({"source": list(sources), "hypothesis": list(hypotheses), "references": list(references)})
    words = frame["source"].map(tokenize)
    frame["length"] = words.map(lambda w: _length_label(len(w)))
    frame["novelty"] = words.map(lambda w: "unseen word" if any(t not in known_words for t in w)
                                 else "all words seen")
    order = [_length_label(high) for high in LENGTH_EDGES[1:]] + [_length_label(math.inf)]
    rows = []
    for column, groups in (("length", order), ("novelty", ["all words seen", "unseen word"])):
        for name in groups:
            part = frame[frame[column] == name]
            if len(part):
                scores = corpus_scores(part["hypothesis"].tolist(), part["references"].tolist())
                rows.append({"group": name, "sentences": len(part), "bleu": scores["bleu"], "chrf": scores["chrf"]})
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))

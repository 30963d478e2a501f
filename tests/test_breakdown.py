"""The per-group table: groups by source length and by unseen words, each scored on its own."""

from seq2seq.evaluation.breakdown import REPORT_COLUMNS, breakdown
from seq2seq.evaluation.metrics import sentence_statistics

SOURCES = ["oui .", "je suis la .", "je suis tres tres fatigue .", "il est un ornithorynque ."]
REFERENCES = [["yes ."], ["i am here ."], ["i am very very tired ."], ["he is a platypus ."]]


def test_groups_by_length_and_novelty_with_their_own_scores():
    # Right on the first three, wrong (no word, not even '.', in common) on the last.
    hypotheses = ["yes .", "i am here .", "i am very very tired .", "xx"]
    known = {"oui", ".", "je", "suis", "la", "tres", "fatigue", "il", "est", "un"}
    table = breakdown(SOURCES, sentence_statistics(hypotheses, REFERENCES), known)
    assert list(table.columns) == list(REPORT_COLUMNS)
    rows = {r.group: (r.sentences, r.bleu, r.chrf) for r in table.itertuples()}
    # 2 tokens; 5 tokens (twice: "je suis la ." and "il est un ornithorynque ."); 7 tokens.
    assert set(rows) == {"1-3 tokens", "4-5 tokens", "6-7 tokens", "all words seen", "unseen word"}
    # A two-token corpus has no 4-gram, so its BLEU is 0 even when exact; chrF reads characters.
    assert rows["1-3 tokens"] == (1, 0.0, 100.0) and rows["6-7 tokens"] == (1, 100.0, 100.0)
    assert rows["4-5 tokens"][0] == 2 and 0 < rows["4-5 tokens"][1] < 100
    assert rows["all words seen"] == (3, 100.0, 100.0)  # pooled n-grams: all of them match
    assert rows["unseen word"] == (1, 0.0, 0.0)


def test_a_source_with_ten_or_more_tokens_gets_its_own_group():
    long = "a b c d e f g h i ."
    table = breakdown([long], sentence_statistics([long], [[long]]), set(long.split()))
    assert table["group"].tolist() == ["10+ tokens", "all words seen"]

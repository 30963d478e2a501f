import re
import unicodedata

import pytest

from seq2seq.config import load_params
from seq2seq.data import text
from seq2seq.data.text import PrepareStats, TextOptions, normalize, parse_line, prepare_pairs
from tests.conftest import REPO

# The PyTorch tutorial's eng_prefixes, written out here rather than copied from the code under test.
TUTORIAL_PREFIXES = ("i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ",
                     "we are", "we re ", "they are", "they re ")


def run(lines, direction="fra-eng", max_length=10, prefixes=TUTORIAL_PREFIXES, options=TextOptions()):
    stats = PrepareStats()
    pairs = list(prepare_pairs([x.encode("utf-8") if isinstance(x, str) else x for x in lines],
                               direction, max_length, list(prefixes), options, stats))
    return pairs, stats


def test_normalize_folds_accents_and_splits_punctuation():
    assert normalize("Ça va très bien!") == "ca va tres bien !"
    assert normalize("  Où es-tu?  ") == "ou es tu ?"
    assert normalize("Cours\u202f!") == "cours !"
    assert normalize("C'est ma Sœur, Cæsar.") == "c est ma soeur caesar ."


def test_normalize_apostrophes_dropped_or_kept():
    assert normalize("I'm here.") == "i m here ."
    assert normalize("I'm here.", TextOptions(keep_apostrophes=True)) == "i'm here ."
    assert normalize("J\u2019ai faim.", TextOptions(keep_apostrophes=True)) == "j'ai faim ."
    assert normalize("J\u2019ai faim.") == "j ai faim ."


def test_normalize_keep_accents():
    assert normalize("Élève, été!", TextOptions(keep_accents=True)) == "élève été !"


def reference_normalize(text, keep_accents, keep_apostrophes):
    """The normalisation as the module's docstring states it, one character at a time."""
    text = unicodedata.normalize("NFD", text.lower().strip().replace("œ", "oe").replace("æ", "ae")
                                 .replace("\u2019", "'"))
    if not keep_accents:
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = unicodedata.normalize("NFC", text).replace(".", " . ").replace("!", " ! ").replace("?", " ? ")
    kept = "".join(ch if ch in ".!?" or (ch == "'" and keep_apostrophes)
                   or (ch.isalpha() and (keep_accents or ch.isascii())) else " " for ch in text)
    return re.sub(r"\s+", " ", kept).strip()


@pytest.fixture
def empty_tables(monkeypatch):
    """normalize's lookup tables as a fresh process has them: nothing remembered yet."""
    monkeypatch.setattr(text, "_KEPT", {flags: text._CharRule(table.rule) for flags, table in text._KEPT.items()})
    monkeypatch.setattr(text, "_NO_MARKS", text._CharRule(text._NO_MARKS.rule))


@pytest.mark.parametrize("keep_accents", [False, True])
@pytest.mark.parametrize("keep_apostrophes", [False, True])
def test_normalize_matches_its_per_character_definition(empty_tables, keep_accents, keep_apostrophes):
    # Every character up to U+2FFF (controls, Latin, Greek, Cyrillic, combining marks, CJK radicals,
    # symbols: more than the lookup table remembers) in sentences of 40, each after a letter it may
    # combine with, and letters beyond (Hangul, CJK, astral), twice: once to fill the tables, once to
    # read them back.
    chars = [chr(code) for code in range(0x3000)]
    sentences = ["".join(chars[i:i + 40]) for i in range(0, len(chars), 40)]
    sentences += ["".join("a" + ch for ch in chars[i:i + 40]) for i in range(0, len(chars), 40)]
    sentences += ["Œuvre d\u2019Æsop, ça coûte 3 €! N\u0303o?", "  L'été   dernier... ", "ǅemal ﬁnit.",
                  "한국어 ᄀ\u1161 漢字! \U0001d400\U0001d7ce \U00020000?"]
    options = TextOptions(keep_accents=keep_accents, keep_apostrophes=keep_apostrophes)
    for _ in range(2):
        for sentence in sentences:
            assert normalize(sentence, options) == reference_normalize(sentence, keep_accents, keep_apostrophes)


def test_normalize_drops_digits_and_symbols():
    assert normalize("I have 3 cats & 2 dogs...") == "i have cats dogs . . ."


def test_parse_line_accepts_two_or_three_columns():
    assert parse_line(b"Hi.\tSalut.\n") == ("Hi.", "Salut.")
    assert parse_line(b"Hi.\tSalut.\tCC-BY attribution\n") == ("Hi.", "Salut.")
    assert parse_line(b"only one column\n") is None
    assert parse_line(b"a\tb\tc\td\n") is None
    assert parse_line(b"\tSalut.\n") is None
    assert parse_line(b"Hi.\t\xff\xfe broken\n") is None


def test_directions_orient_pairs():
    line = ["I am cold.\tJ'ai froid."]
    assert run(line)[0] == [("j ai froid .", "i am cold .")]
    assert run(line, direction="eng-fra")[0] == [("i am cold .", "j ai froid .")]
    assert run(line, direction="autoencode")[0] == [("i am cold .", "i am cold .")]


def test_length_boundary_is_strictly_less_than_max_length():
    # "i am very very very cold ." is 7 tokens; the French side is shorter.
    line = ["I am very very very cold.\tJ'ai froid."]
    assert run(line, max_length=8)[0] and not run(line, max_length=7)[0]
    assert run(line, max_length=7)[1].too_long == 1


def test_default_prefixes_are_the_tutorials():
    assert tuple(load_params(REPO / "params.yaml", "prepare")["prepare"].eng_prefixes) == TUTORIAL_PREFIXES
    # "she s " needs its space: "she said ..." is not a "she is" sentence.
    lines = ["She said no.\tElle a dit non.", "She's tall.\tElle est grande."]
    assert run(lines)[0] == [("elle est grande .", "she s tall .")]


def test_prefix_filter_and_empty_prefix_list():
    lines = ["Go.\tVa !", "I am cold.\tJ'ai froid."]
    pairs, stats = run(lines)
    assert pairs == [("j ai froid .", "i am cold .")] and stats.prefix_filtered == 1
    assert len(run(lines, prefixes=[])[0]) == 2


def test_pairs_only_the_prefix_filter_drops_are_set_aside_once_each():
    lines = ["Go.\tVa !", "Go.\tVa !", "I am cold.\tJ'ai froid.", "Run!\tCours !",
             "Run away from the big dog now, please, before it is too late.\tFuis !"]
    stats, extra = PrepareStats(), []
    kept = list(prepare_pairs([x.encode("utf-8") for x in lines], "fra-eng", 10, list(TUTORIAL_PREFIXES),
                              TextOptions(), stats, extra))
    assert kept == [("j ai froid .", "i am cold .")]
    assert extra == [("va !", "go ."), ("cours !", "run !")]  # oriented, duplicates once; too long is not extra
    assert (stats.prefix_filtered, stats.extra_pairs, stats.too_long) == (3, 2, 1)
    everything, none = PrepareStats(), []
    assert len(list(prepare_pairs([x.encode("utf-8") for x in lines], "fra-eng", 10, [], TextOptions(),
                                  everything, none))) == 3
    assert none == [] and everything.extra_pairs == 0


def test_duplicates_and_malformed_are_counted():
    lines = ["I am cold.\tJ'ai froid.", "I am cold.\tJ'ai froid.", "garbage", b"I am \xff.\tx", "I am.\t123"]
    pairs, stats = run(lines)
    assert len(pairs) == 1
    assert (stats.read, stats.duplicates, stats.malformed, stats.kept) == (5, 1, 3, 1)
    assert stats.read == stats.malformed + stats.too_long + stats.prefix_filtered + stats.duplicates + stats.kept

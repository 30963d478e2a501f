"""Normalise and filter sentence pairs as the classic PyTorch seq2seq tutorial does.

Normalisation: lowercase, ligatures spelled out (œ -> oe), Unicode NFD with accents dropped (unless
kept), `.!?` split off as their own tokens, every other non-letter replaced by a space (apostrophes
optionally kept).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import product
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.fileio import Pair, write_json, write_pairs

log = logging.getLogger("seq2seq.prepare")

# Ligatures do not decompose under NFD; the typographic apostrophe is the same letter as the ASCII one.
_SPELLED_OUT = str.maketrans({"œ": "oe", "æ": "ae", "\u2019": "'"})


@dataclass(frozen=True)
class TextOptions:
    """How raw text becomes tokens; stored in the checkpoint so translation matches training."""

    keep_accents: bool = False
    keep_apostrophes: bool = False


class _CharRule(dict):
    """A `str.translate` table that applies `rule` (a character -> its replacement, None to drop
    it) to each character the first time it is seen, then looks it up: the per-character loop runs
    in C. It remembers the first `limit` characters it sees, so text from a server's users cannot
    grow it without bound; others are decided anew each time (as fast as the plain loop, and as
    right)."""

    def __init__(self, rule: Callable[[str], str | None], limit: int = 4096):
        super().__init__()
        self.rule, self.limit = rule, limit

    def __missing__(self, code: int) -> str | None:
        value = self.rule(chr(code))
        if len(self) < self.limit:
            self[code] = value
        return value


def _kept_char(keep_accents: bool, keep_apostrophes: bool, ch: str) -> str:
    """`.!?` get a space on each side; letters (any script when accents are kept, ASCII otherwise)
    stay, apostrophes too when kept; every other character becomes a space."""
    if ch in ".!?":
        return f" {ch} "
    if ch == "'" and keep_apostrophes:
        return ch
    return ch if ch.isalpha() and (keep_accents or ch.isascii()) else " "


# Accents are the combining marks NFD splits off.
_NO_MARKS = _CharRule(lambda ch: None if unicodedata.category(ch) == "Mn" else ch)
# One table per (keep_accents, keep_apostrophes).
_KEPT = {flags: _CharRule(partial(_kept_char, *flags)) for flags in product((False, True), repeat=2)}


def normalize(text: str, options: TextOptions = TextOptions()) -> str:
    """Return `text` lowercased, accents folded, `.!?` spaced out, other non-letters dropped.

    >>> normalize("Qu'est-ce que c'est ?")
    'qu est ce que c est ?'
    """
    text = unicodedata.normalize("NFD", text.lower().strip().translate(_SPELLED_OUT))
    if not options.keep_accents:
        text = text.translate(_NO_MARKS)
    kept = _KEPT[options.keep_accents, options.keep_apostrophes]
    return " ".join(unicodedata.normalize("NFC", text).translate(kept).split())


def tokenize(sentence: str) -> list[str]:
    """Split a normalised sentence into tokens."""
    return sentence.split()


@dataclass
class PrepareStats:
    """Counts reported by `prepare_pairs`: every input line lands in exactly one bucket."""

    read: int = 0
    malformed: int = 0
    too_long: int = 0
    prefix_filtered: int = 0
    duplicates: int = 0
    kept: int = 0
    # Not a bucket: the distinct pairs among prefix_filtered, written as the extra training pairs.
    extra_pairs: int = 0
    malformed_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def parse_line(raw: bytes) -> tuple[str, str] | None:
    """Return (english, french) from a `English<TAB>French[<TAB>attribution]` line, or None if malformed.

    Malformed: not UTF-8, not two or three columns, or an empty side.
    """
    try:
        line = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None
    cols = line.rstrip("\r\n").split("\t")
    if len(cols) not in (2, 3) or not cols[0].strip() or not cols[1].strip():
        return None
    return cols[0], cols[1]


def orient(english: str, french: str, direction: str) -> Pair:
    """Order a normalised pair as (source, target) for `direction`."""
    if direction == "fra-eng":
        return french, english
    if direction == "eng-fra":
        return english, french
    return english, english  # autoencode: English in, English out


def prepare_pairs(lines: Iterable[bytes], direction: str, max_length: int, eng_prefixes: list[str],
                  options: TextOptions, stats: PrepareStats, extra: list[Pair] | None = None) -> Iterator[Pair]:
    """Normalise, filter and orient raw pair lines; yield (source, target), counting into `stats`.

    A pair is kept when both sides have fewer than `max_length` tokens and, if `eng_prefixes` is not
    empty, the normalised English starts with one of them. Exact duplicates are dropped. Pairs that
    the prefix filter alone drops are appended to `extra` (once each, oriented) when it is given.
    """
    prefixes = tuple(eng_prefixes)
    seen: set[Pair] = set()
    for line in lines:
        stats.read += 1
        parsed = parse_line(line)
        if parsed is None:
            stats.malformed += 1
            if len(stats.malformed_examples) < 3:
                stats.malformed_examples.append(f"line {stats.read}: {line.strip()[:60]!r}")
            continue
        english, french = normalize(parsed[0], options), normalize(parsed[1], options)
        if not english or not french:
            stats.malformed += 1
            continue
        if len(tokenize(english)) >= max_length or len(tokenize(french)) >= max_length:
            stats.too_long += 1
            continue
        pair = orient(english, french, direction)
        if prefixes and not english.startswith(prefixes):
            stats.prefix_filtered += 1
            if extra is not None and pair not in seen:  # never a kept pair: its English lacks the prefix
                seen.add(pair)
                extra.append(pair)
                stats.extra_pairs += 1
            continue
        if pair in seen:
            stats.duplicates += 1
            continue
        seen.add(pair)
        stats.kept += 1
        yield pair


def check_kept(stats: PrepareStats) -> None:
    """Fail with the params to loosen when no pair survived."""
    if stats.kept == 0:
        raise UserError(
            f"no sentence pair survived prepare (read {stats.read}, malformed {stats.malformed}, "
            f"too long {stats.too_long}, not matching eng_prefixes {stats.prefix_filtered}): raise "
            "prepare.max_length or empty prepare.eng_prefixes (dvc exp run -S 'prepare.eng_prefixes=[]'), "
            "or check that the downloaded file holds tab-separated English-French pairs.")


def prepare_file(raw_path: Path, pairs_path: Path, extra_path: Path, meta_path: Path, stats_path: Path,
                 direction: str, max_length: int, eng_prefixes: list[str], options: TextOptions) -> PrepareStats:
    """Run `prepare_pairs` over the raw pairs file; write the pairs TSV, the extra pairs TSV (those
    only the prefix filter dropped, which the split may add to training), text settings and counts."""
    if not Path(raw_path).exists():
        raise UserError(f"{raw_path} does not exist: run the download stage first (dvc repro download).")
    stats, extra = PrepareStats(), []
    with open(raw_path, "rb") as handle:
        pairs = list(prepare_pairs(handle, direction, max_length, eng_prefixes, options, stats, extra))
    check_kept(stats)
    write_pairs(pairs_path, pairs)
    write_pairs(extra_path, extra)
    write_json(meta_path, {"direction": direction, "max_length": max_length, "eng_prefixes": list(eng_prefixes),
                           **asdict(options)})
    write_json(stats_path, stats.as_dict())
    log.info("read %d lines: %d malformed, %d too long, %d without an English prefix (%d distinct extra "
             "pairs), %d duplicates; kept %d pairs", stats.read, stats.malformed, stats.too_long,
             stats.prefix_filtered, stats.extra_pairs, stats.duplicates, stats.kept)
    if stats.malformed_examples:
        log.warning("skipped malformed lines, e.g. %s", "; ".join(stats.malformed_examples))
    return stats

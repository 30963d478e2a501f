"""Split pairs into train and test so that no source sentence sits on both sides."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.fileio import Pair, read_pairs, write_pairs

log = logging.getLogger("seq2seq.split")


def grouped_split(pairs: list[Pair], fraction: float, seed: int,
                  fraction_key: str = "split.test_fraction") -> tuple[list[Pair], list[Pair]]:
    """Return (kept, held_out) with `round(fraction * len(pairs))` pairs held out.

    Pairs sharing a source sentence stay together (the data repeats sources with several
    translations, and a plain random split would leak them). Groups are visited in a seeded random
    order and held out while they fit, which hits the exact count unless the group sizes make it
    impossible; otherwise a smaller count is used and a warning logged. Both parts keep the input
    order, so identical inputs give identical files. `fraction_key` names the param in messages.
    """
    if len(pairs) < 2:
        raise UserError(f"cannot split {len(pairs)} pair(s) into two non-empty parts: loosen the "
                        "prepare filters (prepare.max_length, prepare.eng_prefixes).")
    target = min(max(round(fraction * len(pairs)), 1), len(pairs) - 1)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (source, _) in enumerate(pairs):
        groups[source].append(index)
    order = sorted(groups)  # a fixed order before shuffling: independent of hash seeds
    random.Random(seed).shuffle(order)
    held: set[int] = set()
    for source in order:
        members = groups[source]
        if len(held) + len(members) <= target:
            held.update(members)
        if len(held) == target:
            break
    if len(held) != target:
        log.warning("held out %d pairs instead of %d: the source groups did not add up to it exactly",
                    len(held), target)
    if not held:
        raise UserError(f"every source sentence has too many translations to hold any out: raise "
                        f"{fraction_key}.")
    kept = [p for i, p in enumerate(pairs) if i not in held]
    out = [p for i, p in enumerate(pairs) if i in held]
    return kept, out


def split_file(pairs_path: Path, train_path: Path, test_path: Path, fraction: float, seed: int) -> None:
    """Read prepared pairs, split them with `grouped_split`, write train and test TSVs."""
    pairs = read_pairs(pairs_path)
    train, test = grouped_split(pairs, fraction, seed)
    write_pairs(train_path, train)
    write_pairs(test_path, test)
    log.info("split %d pairs: %d train, %d test (%d distinct test sources)", len(pairs), len(train),
             len(test), len({s for s, _ in test}))

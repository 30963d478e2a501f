"""Split pairs so that no sentence, source or target, sits on both sides.

The data repeats sentences: one English sentence with several French translations (tu/vous, gender)
and the other way round. Grouping by source alone still lets the same English reference appear in
training and test, which rewards memorisation. Here pairs are grouped by connected component of the
source-target graph (two pairs share a group when they share the source or the target sentence,
transitively) and whole groups go to one side. The extra training pairs, those that only the English
prefix filter dropped, join training only if they share no sentence with the test split.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.fileio import Pair, read_pairs, write_json, write_pairs

log = logging.getLogger("seq2seq.split")


def connected_groups(pairs: Sequence[Pair]) -> list[list[int]]:
    """Indices of `pairs` grouped by connected component of the source-target graph.

    Sources and targets are separate node kinds, so an autoencoder's (s, s) pair is one edge. Groups
    come sorted by their first index and list indices in input order, independent of hash seeds.
    """
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def find(node: tuple[int, str]) -> tuple[int, str]:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression keeps later finds short
            parent[node], node = root, parent[node]
        return root

    for source, target in pairs:
        a, b = (0, source), (1, target)
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    groups: dict[tuple[int, str], list[int]] = {}
    for index, (source, _) in enumerate(pairs):
        groups.setdefault(find((0, source)), []).append(index)
    return list(groups.values())


def _pick_groups(sizes: Sequence[int], target: int, limit: int) -> tuple[list[int], int]:
    """Positions in `sizes` whose sizes add up to the achievable total in [1, `limit`] closest to
    `target`.

    A subset-sum over bitsets (bit k set: total k is reachable) from the back gives, for each
    position, the totals the groups after it can still make. Walking forwards, a group is taken
    whenever the rest can still complete the total, so the choice follows the (shuffled) order.
    Totals above `target + max(sizes)` are never the closest, so the bitsets stop there.
    """
    width = target + max(sizes) + 1
    mask = (1 << width) - 1
    suffix = [1] * (len(sizes) + 1)  # suffix[i]: totals reachable with groups i..end
    for i in range(len(sizes) - 1, -1, -1):
        suffix[i] = (suffix[i + 1] | (suffix[i + 1] << sizes[i])) & mask
    reachable = [k for k in range(1, min(width, limit + 1)) if suffix[0] >> k & 1]
    total = min(reachable, key=lambda k: (abs(k - target), k))
    chosen, need = [], total
    for i, size in enumerate(sizes):
        if size <= need and suffix[i + 1] >> (need - size) & 1:
            chosen.append(i)
            need -= size
    return chosen, total


def grouped_split(pairs: list[Pair], fraction: float, seed: int,
                  fraction_key: str = "split.test_fraction") -> tuple[list[Pair], list[Pair]]:
    """Return (kept, held_out), with `round(fraction * len(pairs))` pairs held out when the group
    sizes allow it (otherwise the closest achievable count, with a warning).

    Whole connected groups (see `connected_groups`) go to one side, visited in a seeded random
    order. Both parts keep the input order, so identical inputs give identical files.
    `fraction_key` names the param in messages.
    """
    if len(pairs) < 2:
        raise UserError(f"cannot split {len(pairs)} pair(s) into two non-empty parts: loosen the "
                        "prepare filters (prepare.max_length, prepare.eng_prefixes).")
    groups = connected_groups(pairs)
    if len(groups) < 2:
        raise UserError(f"all {len(pairs)} pairs are linked through shared sentences into one group, "
                        f"so no part can be held out without leaking: loosen the prepare filters "
                        f"(prepare.max_length, prepare.eng_prefixes) or check {fraction_key}.")
    target = min(max(round(fraction * len(pairs)), 1), len(pairs) - 1)
    random.Random(seed).shuffle(groups)
    # Visited last, the largest group is held out only when the count needs it; totals of at most
    # n - 1 keep the kept side non-empty.
    largest = max(range(len(groups)), key=lambda i: (len(groups[i]), -i))
    candidates = [g for i, g in enumerate(groups) if i != largest] + [groups[largest]]
    chosen, total = _pick_groups([len(g) for g in candidates], target, len(pairs) - 1)
    if total != target:
        log.warning("held out %d pairs instead of %d (%s): the groups of pairs that share a "
                    "sentence cannot add up to it exactly", total, target, fraction_key)
    held = {i for c in chosen for i in candidates[c]}
    kept = [p for i, p in enumerate(pairs) if i not in held]
    out = [p for i, p in enumerate(pairs) if i in held]
    return kept, out


def sharing_no_sentence(pairs: Sequence[Pair], others: Sequence[Pair]) -> list[Pair]:
    """`pairs` less every pair whose source or target sentence is one of `others`'."""
    sources, targets = {s for s, _ in others}, {t for _, t in others}
    return [p for p in pairs if p[0] not in sources and p[1] not in targets]


def extra_training_pairs(extra: Sequence[Pair], test: Sequence[Pair], fraction: float,
                         seed: int) -> tuple[list[Pair], int]:
    """The extra pairs (those only the prefix filter dropped) that may join training: every pair
    sharing a source or a target sentence with `test` is dropped, and of the rest `round(fraction *
    n)` are kept, drawn in a seeded order and returned in input order. Returns (kept, dropped for
    sharing a test sentence)."""
    clean = sharing_no_sentence(extra, test)
    order = list(range(len(clean)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:round(fraction * len(clean))])
    return [p for i, p in enumerate(clean) if i in chosen], len(extra) - len(clean)


def split_stats(pairs: Sequence[Pair], train: Sequence[Pair], test: Sequence[Pair],
                extra: Sequence[Pair] = ()) -> dict[str, int]:
    """What the split promises, counted from its result: sizes, groups, and leaks into all the
    training data, `extra` pairs included (both must be 0)."""
    groups = connected_groups(pairs)
    train_sources = {s for s, _ in train} | {s for s, _ in extra}
    train_targets = {t for _, t in train} | {t for _, t in extra}
    return {"pairs": len(pairs), "train_pairs": len(train), "test_pairs": len(test), "extra_pairs": len(extra),
            "groups": len(groups), "largest_group": max(map(len, groups)),
            "test_sources": len({s for s, _ in test}),
            "test_sources_in_train": len({s for s, _ in test} & train_sources),
            "test_targets_in_train": len({t for _, t in test} & train_targets)}


def split_file(pairs_path: Path, extra_in: Path, train_path: Path, extra_path: Path, test_path: Path,
               stats_path: Path, fraction: float, seed: int, extra_fraction: float = 0.0) -> dict[str, int]:
    """Read prepared pairs, split them with `grouped_split`, pick the extra training pairs with
    `extra_training_pairs`, write the train, extra and test TSVs and the split's stats (a DVC metric)."""
    pairs = read_pairs(pairs_path)
    train, test = grouped_split(pairs, fraction, seed)
    extra, overlapping = extra_training_pairs(read_pairs(extra_in), test, extra_fraction, seed)
    stats = {**split_stats(pairs, train, test, extra), "extra_sharing_test_sentences": overlapping}
    write_pairs(train_path, train)
    write_pairs(extra_path, extra)
    write_pairs(test_path, test)
    write_json(stats_path, stats)
    log.info("split %d pairs in %d groups (largest %d): %d train, %d test (%d distinct test sources); "
             "%d extra training pairs (%d more shared a test sentence); test sentences also in training: "
             "%d sources, %d targets", stats["pairs"], stats["groups"], stats["largest_group"],
             stats["train_pairs"], stats["test_pairs"], stats["test_sources"], stats["extra_pairs"],
             overlapping, stats["test_sources_in_train"], stats["test_targets_in_train"])
    return stats

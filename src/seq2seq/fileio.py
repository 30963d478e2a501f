"""Atomic, deterministic file writing and the TSV pair format shared by the data stages."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from seq2seq.errors import UserError

Pair = tuple[str, str]
PAIR_HEADER = ("source", "target")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give the result the usual umask-based mode instead.
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: Path) -> Iterator[IO[str]]:
    """Open a UTF-8 text file for writing that appears at `path` only when complete."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        yield handle


def write_json(path: Path, data: dict) -> None:
    """Write `data` as sorted, indented JSON, atomically."""
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def read_json(path: Path) -> dict:
    """Read a JSON object, with a clear error when it is missing or broken."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist: run the stage that writes it (dvc repro).") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err}): rerun the stage that writes it.") from None


def write_pairs(path: Path, pairs: Iterable[Pair]) -> int:
    """Write pairs as a UTF-8 TSV with a `source<TAB>target` header; return the number written."""
    count = 0
    with atomic_open(path) as handle:
        handle.write("\t".join(PAIR_HEADER) + "\n")
        for source, target in pairs:
            handle.write(f"{source}\t{target}\n")
            count += 1
    return count


def read_pairs(path: Path) -> list[Pair]:
    """Read a pairs TSV written by `write_pairs`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist: run the stages before this one (dvc repro).")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(rows[0]) != PAIR_HEADER:
        raise UserError(f"{path} lacks the header 'source<TAB>target': rerun the stage that writes it.")
    bad = [i for i, row in enumerate(rows[1:], start=2) if len(row) != 2]
    if bad:
        raise UserError(f"{path} line {bad[0]} does not have two columns: rerun the stage that writes it.")
    return [(row[0], row[1]) for row in rows[1:]]

"""The kept test translations: one row per distinct test source with all of its references and the
model's translation (`results/translations.tsv`), written by the evaluate stage and read back by
`seq2seq compare`, so that two revisions or experiments can be compared sentence by sentence."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.fileio import atomic_open

HEADER = ("source", "references", "prediction")
# Joins a source's references in one column; normalised text never contains `|`.
REFERENCE_SEPARATOR = " | "


@dataclass(frozen=True)
class Translations:
    """Distinct test sources, each with its references and one system's translation."""

    sources: list[str]
    references: list[list[str]]  # references[i]: every target paired with sources[i], at least one
    hypotheses: list[str]  # hypotheses[i]: the translation of sources[i] ('' when it was empty)


def write_rows(path: Path, sources: Sequence[str], references: Sequence[Sequence[str]],
               hypotheses: Sequence[str], rows: Sequence[int] | None = None) -> None:
    """Write `rows` (default: all) as a UTF-8 TSV with the header source, references, prediction."""
    with atomic_open(path) as handle:
        handle.write("\t".join(HEADER) + "\n")
        for i in range(len(sources)) if rows is None else rows:
            handle.write(f"{sources[i]}\t{REFERENCE_SEPARATOR.join(references[i])}\t{hypotheses[i]}\n")


def parse(text: str, origin: str) -> Translations:
    """Read what `write_rows` wrote; `origin` names the file (and revision) in error messages."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(rows[0]) != HEADER:
        raise UserError(f"{origin} lacks the header 'source<TAB>references<TAB>prediction': it was not "
                        "written by the evaluate stage; rerun it (dvc repro).")
    bad = [i for i, row in enumerate(rows[1:], start=2) if len(row) != 3 or not row[1]]
    if bad:
        raise UserError(f"{origin} line {bad[0]} does not have a source, its references and a prediction: "
                        "rerun the evaluate stage (dvc repro).")
    body = rows[1:]
    if not body:
        raise UserError(f"{origin} holds no translations, only its header: rerun the evaluate stage (dvc repro).")
    return Translations([r[0] for r in body], [r[1].split(REFERENCE_SEPARATOR) for r in body],
                        [r[2] for r in body])

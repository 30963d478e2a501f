"""params.yaml and docs/params.md, made from the one home of every default, allowed value and help
text: the typed sections of `seq2seq.config`. `make params` (python -m seq2seq.paramsdoc) rewrites
both; a test fails when either drifts from the code."""

from __future__ import annotations

import argparse
import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any

import yaml

from seq2seq.config import SECTIONS

YAML_HEADER = """\
# Every knob of the pipeline, one section per stage (plus encoder/decoder for the model).
# Change one with `dvc exp run -S section.key=value`; only the stages that read it rerun.
# Made by `make params` from src/seq2seq/config.py, where each default and its help live.
"""
MARKDOWN_HEADER = """\
# Params

Every knob lives in `params.yaml` with its default and a one-line comment; each stage validates its
own sections when it starts and names the key and the allowed values when one is wrong. Set one for
an experiment with `dvc exp run -S section.key=value`: only the stages that declare that section
rerun. Checks between keys (tied embeddings, dot attention) run when the params load.

This page and `params.yaml` are made by `make params` from `src/seq2seq/config.py`, the one home of
each default, allowed value and help text; `tests/test_paramsdoc.py` fails when either drifts.

| key | default | allowed | meaning |
|---|---|---|---|
"""


def _scalar(value: Any) -> str:
    """A YAML scalar as params.yaml writes it: lowercase booleans, floats with a decimal point,
    strings plain unless YAML would read them as something else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value == "" or yaml.safe_load(value) != value or value.strip() != value:
        return json.dumps(value)
    return value


def render_yaml() -> str:
    """params.yaml with every default, each key under its wrapped help comment."""
    out = [YAML_HEADER]
    for name, cls in SECTIONS.items():
        out.append(f"\n{name}:\n")
        defaults = cls()
        for f in dataclasses.fields(cls):
            for line in textwrap.wrap(f.metadata["help"], 98):
                out.append(f"  # {line}\n")
            default = getattr(defaults, f.name)
            if isinstance(default, list):
                out.append(f"  {f.name}:" + (" []\n" if not default else "\n"))
                out.extend(f"    - {json.dumps(item)}\n" for item in default)
            else:
                out.append(f"  {f.name}: {_scalar(default)}\n")
    return "".join(out)


def render_markdown() -> str:
    """docs/params.md: one table row per key."""
    rows = []
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731  (a literal | inside a table cell)
    for name, cls in SECTIONS.items():
        defaults = cls()
        for f in dataclasses.fields(cls):
            default = getattr(defaults, f.name)
            shown = json.dumps(default) if isinstance(default, list) else _scalar(default)
            if len(shown) > 40:
                shown = shown[:37] + "..."
            rows.append(f"| `{name}.{f.name}` | `{cell(shown)}` | {cell(f.metadata['allowed'])} | "
                        f"{cell(f.metadata['help'])} |\n")
    return MARKDOWN_HEADER + "".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--markdown", type=Path, default=Path("docs/params.md"))
    args = parser.parse_args()
    args.params.write_text(render_yaml(), encoding="utf-8")
    args.markdown.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {args.params} and {args.markdown}")


if __name__ == "__main__":
    main()

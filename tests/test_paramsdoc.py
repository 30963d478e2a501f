"""params.yaml and docs/params.md are made from the code's one home of defaults and help texts:
neither may drift from it (`make params` rewrites both)."""

import dataclasses

import yaml

from seq2seq.config import SECTIONS, parse_section
from seq2seq.paramsdoc import render_markdown, render_yaml
from tests.conftest import REPO


def test_params_yaml_is_what_the_code_says():
    assert (REPO / "params.yaml").read_text() == render_yaml(), "params.yaml drifted: run `make params`"


def test_docs_params_md_is_what_the_code_says():
    assert (REPO / "docs/params.md").read_text() == render_markdown(), "docs/params.md drifted: run `make params`"


def test_rendered_yaml_parses_back_to_the_defaults_with_one_comment_per_key():
    text = render_yaml()
    data = yaml.safe_load(text)
    for name, cls in SECTIONS.items():
        assert parse_section(cls, name, data[name]) == cls(), name
        for f in dataclasses.fields(cls):
            assert f.metadata["help"], f"{name}.{f.name} has no help text"
    # Floats keep a decimal point (PyYAML reads 1e-3 as a string).
    assert "  learning_rate: 0.002\n" in text and "  weight_decay: 0.0\n" in text
    assert '    - "she s "\n' in text  # trailing spaces survive as quoted strings

"""The walk-through (docs/from-scratch.md, then docs/from-scratch-2.md) cannot drift from the code:
its python snippets run in order, and with the pipeline's model (after `make repro`) each prints
exactly the output the page shows under it."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
import torch

from seq2seq.checkpoint import save_checkpoint
from seq2seq.data.vocab import Vocab
from tests.conftest import REPO, overfit, pipeline_file

PAGES = [REPO / "docs" / "from-scratch.md", REPO / "docs" / "from-scratch-2.md"]


def snippets() -> list[tuple[str, str | None, str]]:
    """Each python block of the pages, in order, with the text block right after it (its output) or
    None, and the page's name."""
    blocks = []
    for page in PAGES:
        found = re.findall(r"```python\n(.*?)```(?:\s*```text\n(.*?)```)?", page.read_text(), re.S)
        blocks += [(code, output or None, page.name) for code, output in found]
    return blocks


def run_page() -> list[tuple[str | None, str]]:
    """Run the snippets in order in one namespace, from the current folder: per snippet, the
    output the page shows and what it printed."""
    namespace: dict = {}
    results = []
    grad = torch.is_grad_enabled()
    try:
        for code, expected, page in snippets():
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, page, "exec"), namespace)  # noqa: S102 - the page's own snippets
            results.append((expected, printed.getvalue()))
    finally:
        torch.set_grad_enabled(grad)  # the page turns gradients off: the tests after it need them
    return results


def test_the_page_has_snippets_with_outputs():
    blocks = snippets()
    assert len(blocks) >= 10 and sum(output is not None for _, output, _ in blocks) >= 10
    assert {page for _, _, page in blocks} == {page.name for page in PAGES}


@pytest.mark.skipif(pipeline_file("models/model.pt") is None,
                    reason="needs the pipeline's model as dvc.lock records it (make repro)")
def test_every_snippet_prints_what_the_page_shows(monkeypatch):
    monkeypatch.chdir(REPO)
    for expected, printed in run_page():
        if expected is not None:
            assert printed == expected


def test_every_snippet_runs_on_a_model_of_the_same_kind(tmp_path, monkeypatch):
    # Without the pipeline's model (a fresh clone), a tiny one with the default's architecture
    # (pieces, general attention, input feeding, tied embeddings) stands in: every snippet must run
    # and print, though not the page's figures.
    pairs = [("je suis en retard .", "i m late ."), ("elle a peur des chiens .", "she is afraid of dogs ."),
             ("il est grand .", "he is tall ."), ("nous sommes amis .", "we are friends .")]
    source, target = (Vocab.build_pieces([p[side] for p in pairs] * 5, 40) for side in (0, 1))
    model, _ = overfit(pairs, source, target, epochs=30,
                       dec={"attention": "general", "input_feeding": True, "embedding_size": 32,
                            "tie_embeddings": True})
    (tmp_path / "models").mkdir()
    save_checkpoint(tmp_path / "models" / "model.pt", model, source, target, {"max_length": 10})
    monkeypatch.chdir(tmp_path)
    for expected, printed in run_page():
        assert (expected is None) or printed.strip()

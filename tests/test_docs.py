"""The docs hold together: every relative link in the README, the changelog and docs/ resolves, to a
file that exists and, with a #fragment, to a heading that file has; and the README and each docs
page stay short."""

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # headings, not comments in code
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def test_slug_matches_githubs_rule():
    assert slug("Keep each worker to its share of the CPU") == "keep-each-worker-to-its-share-of-the-cpu"
    assert slug("Train in several processes (torch DDP)") == "train-in-several-processes-torch-ddp"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if fragment:
            assert fragment in anchors(resolved), f"{page.name}: {target} names no heading of {resolved.name}"


# docs/params.md is generated from the code (`make params`): it grows with the params, not with prose.
SHORT = [page for page in PAGES if page.name != "CHANGELOG.md" and page != REPO / "docs" / "params.md"]


@pytest.mark.parametrize("page", SHORT, ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_readme_and_each_docs_page_stay_short(page):
    """The README is the day-one page and each docs page holds one topic: 200 lines at most."""
    lines = len(page.read_text().splitlines())
    assert lines <= 200, f"{page.relative_to(REPO)} has {lines} lines: move a topic to a page of its own"

"""`dvc plots show` and `dvc plots diff` write a page that renders offline: vega inlined, nothing remote."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.conftest import sh

pytestmark = pytest.mark.e2e

# sha256 of each file exactly as published on the npm registry (the package's `jsdelivr` entry, which
# is what DVC's default page loads from the CDN); .dvc/plots/vendor.py prints them when it rebuilds.
PUBLISHED = {
    "vega@5.33.1": "463f3db6a40b20e9747b4ed38f37ed0add508838f9141b1cf8366784b07b30c8",
    "vega-lite@5.23.0": "58c27358e26f2d319cf62f45bc17a4c8362f08645001df2ec8d341eee4097c7f",
    "vega-embed@6.29.0": "12d02acfbe3ec59ef9a37dd4822a2e04e2961b5bbb671bbe661d2221715b99da",
}


def assert_offline(path: Path) -> str:
    """Check one written page: only the vendored scripts, inlined byte for byte, and no remote URL."""
    html = path.read_text(encoding="utf-8")
    inlined = re.findall(r'<script data-package="([^"]+)">(.*?)</script>', html, re.S)
    assert {name: hashlib.sha256(code.encode()).hexdigest() for name, code in inlined} == PUBLISHED
    page = re.sub(r'(<script data-package="[^"]+">).*?</script>', r"\1</script>", html, flags=re.S)
    head, body = page.split("</head>", 1)  # the libraries' own code is gone, so this is the page's
    assert head.count("<script data-package=") == len(PUBLISHED)  # loaded before any chart
    assert '<meta charset="utf-8">' in head  # the builds hold non-ASCII characters
    assert re.findall(r"<script\b[^>]*\bsrc\s*=", page) == []
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)  # tags and text, no code
    assert re.findall(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", markup) == []
    assert body.count("vegaEmbed(") >= 3  # each chart calls the library the head defined
    return body


def test_plots_show_and_diff_render_without_network(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")

    # Plain commands, no --html-template: .dvc/config's plots.html_template does it.
    shown = sh(repo, env, "dvc", "plots", "show")
    assert "failed to load" not in shown.stdout + shown.stderr
    body = assert_offline(repo / "dvc_plots/index.html")
    images = re.findall(r'<img src="([^"]+)"', body)  # attention heatmaps, copied beside the page
    assert images and all((repo / "dvc_plots" / src).is_file() for src in images)

    sh(repo, env, "dvc", "plots", "diff", "HEAD", "-o", "diff_plots")
    assert_offline(repo / "diff_plots/index.html")

"""Attention heatmaps: which source tokens each output token attended to, as PNG images that
`dvc plots show` renders and `dvc plots diff` sets side by side for two experiments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: the same on a server, in CI and on a laptop
from matplotlib import pyplot as plt  # noqa: E402

from seq2seq.fileio import atomic_path  # noqa: E402


def save_heatmap(path: Path, source_tokens: Sequence[str], output_tokens: Sequence[str],
                 weights: Sequence[Sequence[float]], title: str) -> None:
    """Write `weights` (one row per output token, one column per source token, rows summing to one)
    as a PNG at `path`, atomically. No software version or date is embedded, so the same weights
    give the same bytes and git sees no change on a rerun."""
    height = 1.2 + 0.35 * len(output_tokens)
    width = 1.8 + 0.55 * len(source_tokens)
    fig, ax = plt.subplots(figsize=(max(width, 4.0), max(height, 2.5)), dpi=100)
    try:
        ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source_tokens)), labels=list(source_tokens), rotation=45, ha="right")
        ax.set_yticks(range(len(output_tokens)), labels=list(output_tokens))
        ax.set_xlabel("source token")
        ax.set_ylabel("output token")
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)

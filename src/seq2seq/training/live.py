"""Per-epoch metrics through dvclive, so that `dvc exp show` follows a running or queued experiment
epoch by epoch, and the curves are dvclive's standard files.

dvclive runs with `dvcyaml=False`: `dvc.yaml` declares what it writes (its `metrics.json` as
metrics, its `plots` folder as an output), so the hand-written metrics and plots stay the truth.
Its files hold `step` (= epoch) and the values of `results/history.tsv`, no timestamps, so a rerun
writes the same bytes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dvclive import Live

from seq2seq.errors import UserError


def dvclive_name(column: str) -> str:
    """A history column's name in dvclive: `train_loss` becomes `train/loss` (as in dvclive's own
    examples), so that `dvc exp show` shows `train.loss` for the latest epoch, apart from the kept
    epoch's `train_loss` in results/train.json (one name in two files makes `--sort-by` ambiguous)."""
    split, _, metric = column.partition("_")
    return f"{split}/{metric}" if split in ("train", "valid") and metric else column


def check_layout(metrics: Path, plots: Path) -> Path:
    """dvclive's folder, given the two paths `dvc.yaml` declares: dvclive fixes their names inside
    it (`metrics.json` and `plots`), so anything else fails early instead of writing elsewhere."""
    metrics, plots = Path(metrics), Path(plots)
    if metrics.name != "metrics.json" or plots != metrics.parent / "plots":
        raise UserError(f"dvclive writes DIR/metrics.json and DIR/plots: got {metrics} and {plots}. "
                        "Pass --live-metrics DIR/metrics.json --live-plots DIR/plots (as in dvc.yaml).")
    return metrics.parent


@contextmanager
def dvclive_epochs(metrics: Path, plots: Path) -> Iterator[Callable[[dict], None]]:
    """Yield a function that logs one epoch's history row (`epoch` and numbers) with dvclive: each
    number's curve in `plots/metrics/<name>.tsv` (`train/loss.tsv`, see `dvclive_name`) and the
    latest values in `metrics`, as soon as the epoch ends: what `dvc exp show` reads while training
    goes on."""
    folder = check_layout(metrics, plots)
    # dvclive's info line names an experiment, random outside `dvc exp run`: keep warnings only.
    logging.getLogger("dvclive").setLevel(logging.WARNING)
    with Live(str(folder), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        def log_epoch(row: dict) -> None:
            live.step = row["epoch"]  # dvclive's step is our epoch, counted from 1 as in history.tsv
            for name, value in row.items():
                if name != "epoch":
                    live.log_metric(dvclive_name(name), value)
            live.next_step()

        yield log_epoch


def discard(metrics: Path, plots: Path) -> None:
    """Remove what `dvclive_epochs` wrote, after a failed run: its files describe epochs of a
    model that was never saved, and must not pass for a finished run's."""
    folder = Path(metrics).parent
    Path(metrics).unlink(missing_ok=True)
    shutil.rmtree(plots, ignore_errors=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()

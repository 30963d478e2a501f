"""dvclive as the train stage uses it: per-epoch files in dvclive's layout, step = epoch, no
timestamps (a rerun writes the same bytes), and nothing left behind by a failed run."""

import json
from pathlib import Path

import pytest

from seq2seq.errors import UserError
from seq2seq.training.live import check_layout, discard, dvclive_epochs

ROWS = [{"epoch": 1, "train_loss": 3.25, "valid_loss": 3.5, "valid_bleu": 0.0, "learning_rate": 0.001},
        {"epoch": 2, "train_loss": 2.5, "valid_loss": 3.0, "valid_bleu": 1.25, "learning_rate": 0.0005}]


def log_rows(folder: Path) -> dict[str, bytes]:
    with dvclive_epochs(folder / "metrics.json", folder / "plots") as log_epoch:
        for row in ROWS:
            log_epoch(row)
            # What `dvc exp show` reads mid-run: this epoch's values, already on disk.
            assert json.loads((folder / "metrics.json").read_text())["step"] == row["epoch"]
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_files_follow_dvclive_layout_and_repeat_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside any repository: dvclive leaves this one alone
    first = log_rows(tmp_path / "live")
    assert set(first) == {"metrics.json"} | {f"plots/metrics/{k}.tsv" for k in
                                             ("train/loss", "valid/loss", "valid/bleu", "learning_rate")}
    # Nested names, so `dvc exp show` has train.loss (latest epoch) beside train.json's train_loss.
    assert json.loads(first["metrics.json"]) == {"train": {"loss": 2.5}, "valid": {"loss": 3.0, "bleu": 1.25},
                                                 "learning_rate": 0.0005, "step": 2}
    assert first["plots/metrics/valid/bleu.tsv"].decode() == "step\tbleu\n1\t0.0\n2\t1.25\n"
    assert b"timestamp" not in b"".join(first.values())
    assert log_rows(tmp_path / "live") == first


def test_layout_is_checked_and_discard_removes_only_dvclive_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="DIR/metrics.json and DIR/plots"):
        check_layout(tmp_path / "a" / "metrics.json", tmp_path / "b" / "plots")
    log_rows(tmp_path / "live")
    discard(tmp_path / "live" / "metrics.json", tmp_path / "live" / "plots")
    assert not (tmp_path / "live").exists()

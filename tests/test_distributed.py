"""Training in several processes (torch DDP, gloo on CPU) through the train stage, as DVC runs it:
the same loss curve and weights as one process, and a failing process stops the rest with a clear
error instead of a hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch

from seq2seq.data.vocab import Vocab
from seq2seq.fileio import write_json, write_pairs
from seq2seq.training.distributed import Workers, shard
from tests.conftest import REPO, write_params

WORDS = ("froid", "grand", "petit", "las", "triste", "fou", "content", "pret")
# Sources of three lengths, so that bucketed batches of 3 leave some shorter than the process count.
PAIRS = ([(f"je suis {a} et {b} .", f"i am {a} and {b} .") for a in WORDS for b in WORDS[:4]]
         + [(f"il est {a} .", f"he is {a} .") for a in WORDS] + [("nous sommes las .", "we are tired .")])
# Extra training pairs (split.extra_fraction), drawn into epochs only with train.extra_per_epoch.
EXTRA = [(f"elle est {a} .", f"she is {a} .") for a in WORDS]
# Dropout 0 and full teacher forcing: the draws that differ between processes (see training.replicate).
# Patience 0: training stops only when told to.
TINY = {"encoder__embedding_size": 8, "encoder__hidden_size": 8, "encoder__dropout": 0.0,
        "decoder__embedding_size": 8, "decoder__hidden_size": 8, "decoder__dropout": 0.0,
        "train__batch_size": 3, "train__valid_fraction": 0.2, "train__threads": 1,
        "train__teacher_forcing_ratio": 1.0, "train__patience": 0}


def inputs(folder: Path, **text) -> list[str]:
    """The train stage's inputs in `folder`, as arguments."""
    write_pairs(folder / "train.tsv", PAIRS)
    write_pairs(folder / "extra.tsv", EXTRA)
    Vocab.build(s for s, _ in PAIRS + EXTRA).save(folder / "vocab" / "source.txt")
    Vocab.build(t for _, t in PAIRS + EXTRA).save(folder / "vocab" / "target.txt")
    write_json(folder / "text.json", {"direction": "fra-eng", "max_length": 10, "keep_accents": False,
                                      "keep_apostrophes": False, **text})
    return ["--train", str(folder / "train.tsv"), "--extra", str(folder / "extra.tsv"),
            "--vocab", str(folder / "vocab"),
            "--text", str(folder / "text.json")]


def outputs(out: Path) -> list[str]:
    return ["--model", str(out / "model.pt"), "--history", str(out / "history.tsv"), "--metrics",
            str(out / "train.json"), "--live-metrics", str(out / "live" / "metrics.json"),
            "--live-plots", str(out / "live" / "plots")]


def train_stage(tmp_path: Path, out: str, params: Path, launcher: tuple[str, ...] = (), **text) -> subprocess.Popen:
    """The train stage as DVC runs it, or under `launcher` (e.g. torchrun's arguments)."""
    # Run from tmp_path: dvclive then finds no DVC repository and leaves this one alone.
    command = [sys.executable, *launcher, str(REPO / "stages" / "train.py"), *inputs(tmp_path, **text),
               *outputs(tmp_path / out), "--params", str(params)]
    return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def history(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split("\t")] for line in path.read_text().splitlines()[1:]]


def test_shards_cover_a_batch_once_and_idle_processes_weigh_nothing():
    for size in (1, 2, 3, 7):
        cuts = [shard(size, Workers(rank, 3)) for rank in range(3)]
        rows = [i for rows, weight in cuts if weight for i in range(size)[rows]]
        assert rows == list(range(size))
        assert all(weight == 0.0 and rows == slice(0, 1) for rows, weight in cuts[size:])
    assert shard(5, Workers()) == (slice(0, 5), 1.0)


def test_two_processes_give_one_process_curve_and_weights(tmp_path):
    # Word dropout and label smoothing on: both are drawn or computed over the whole batch; the
    # cosine schedule sets every update's rate alike in both processes; both draw each epoch's 5
    # extra pairs alike.
    changes = {**TINY, "train__epochs": 3, "train__word_dropout": 0.2, "train__label_smoothing": 0.1,
               "train__lr_schedule": "cosine", "train__extra_per_epoch": 5}
    one = train_stage(tmp_path, "one", write_params(tmp_path / "one.yaml", **changes, train__processes=1))
    two = train_stage(tmp_path, "two", write_params(tmp_path / "two.yaml", **changes, train__processes=2))
    for proc in (one, two):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert "in 2 processes" in err and "and 5 of 8 extra pairs per epoch" in err
    a, b = history(tmp_path / "one" / "history.tsv"), history(tmp_path / "two" / "history.tsv")
    assert len(a) == len(b) == 3
    assert torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-5, atol=1e-4)  # history rounds to 1e-4
    wa, wb = (torch.load(tmp_path / run / "model.pt", weights_only=True)["state_dict"] for run in ("one", "two"))
    for name in wa:
        assert torch.allclose(wa[name], wb[name], rtol=1e-5, atol=1e-6), name
    # Rank 0 logged each epoch once through dvclive: step = epoch, the history's values.
    live = (tmp_path / "two" / "live" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert live[0] == "step\tloss"
    assert [[float(v) for v in line.split("\t")] for line in live[1:]] == [[row[0], row[1]] for row in b]


def test_under_torchrun_the_stage_joins_its_processes_for_the_same_curve(tmp_path):
    # torchrun starts two copies of the stage; each joins torchrun's group (env://) and spawns nothing.
    changes = {**TINY, "train__epochs": 2, "train__word_dropout": 0.2}
    spawned = train_stage(tmp_path, "spawned", write_params(tmp_path / "a.yaml", **changes, train__processes=2))
    _, err = spawned.communicate(timeout=300)
    assert spawned.returncode == 0, err
    # train.processes 1: under torchrun the stage takes its processes from torchrun, not params.
    torchrun = train_stage(tmp_path, "torchrun", write_params(tmp_path / "b.yaml", **changes),
                           ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"))
    _, err = torchrun.communicate(timeout=300)
    assert torchrun.returncode == 0, err
    assert err.count("training on cpu in 2 processes") == 1  # rank 0 alone logs
    a, b = history(tmp_path / "spawned" / "history.tsv"), history(tmp_path / "torchrun" / "history.tsv")
    assert len(a) == len(b) == 2
    assert torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-5, atol=1e-4)
    wa, wb = (torch.load(tmp_path / run / "model.pt", weights_only=True)["state_dict"]
              for run in ("spawned", "torchrun"))
    assert all(torch.allclose(wa[name], wb[name], rtol=1e-5, atol=1e-6) for name in wa)


def test_a_killed_process_stops_the_others_with_a_clear_error(tmp_path):
    params = write_params(tmp_path / "p.yaml", **TINY, train__epochs=10000, train__processes=2)
    proc = train_stage(tmp_path, "out", params)
    for line in proc.stderr:  # wait until training is under way
        if "epoch 1/10000:" in line:
            break
    workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) == 2
    start = time.monotonic()
    os.kill(workers[-1].pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - start < 60  # stopped promptly, never waiting out a timeout
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1].startswith("error: training process")
    assert "was stopped by SIGKILL" in err and "Traceback" not in err
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_an_error_in_the_processes_reads_as_with_one_process(tmp_path):
    params = write_params(tmp_path / "p.yaml", **TINY, train__processes=2)
    proc = train_stage(tmp_path, "out", params, max_length=None)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"error: {tmp_path / 'text.json'} lacks max_length: rerun the prepare " \
                                           "stage (dvc repro prepare)."

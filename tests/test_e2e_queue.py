"""DVC's experiment queue runs our pipeline: a sweep on two workers, a bad value that fails alone, and a
worker killed mid-training that leaves the workspace as it was."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import sh

pytestmark = pytest.mark.e2e


def wait_for_queue(repo: Path, env: dict, tasks: int, timeout: float = 240) -> str:
    """Poll `dvc queue status`, as a user would, until `tasks` tasks have finished; return the table."""
    deadline = time.monotonic() + timeout
    while True:
        status = sh(repo, env, "dvc", "queue", "status").stdout
        finished = re.findall(r"\s(Success|Failed)\s*$", status, re.M)
        if len(finished) == tasks and not re.search(r"\s(Queued|Running)\s*$", status, re.M):
            return status
        assert time.monotonic() < deadline, f"queue still busy after {timeout} s:\n{status}"
        time.sleep(2)


def start_queue(repo: Path, env: dict, jobs: int) -> None:
    """`dvc queue start -j JOBS`, its output in a file: the workers it spawns outlive it and, while
    they start, can hold a captured pipe open, so that reading the command's output waits for them."""
    with open(repo.parent / "queue-start.log", "a") as log:
        subprocess.run(["dvc", "queue", "start", "-j", str(jobs)], cwd=repo, env=env, stdout=log, stderr=log,
                       check=True, timeout=120)


def test_queued_sweep_runs_on_two_workers_and_a_bad_value_fails_alone(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")  # the baseline: queued runs find its data stages in the cache, skip them
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")

    env = {**env, "SEQ2SEQ_THREADS": "1"}  # one thread per worker, as the README advises
    sh(repo, env, "dvc", "exp", "run", "--queue", "-S", "train.epochs=1", "-S", "train.seed=11,12")
    sh(repo, env, "dvc", "exp", "run", "--queue", "-n", "bad-lr", "-S", "train.learning_rate=-1")
    start_queue(repo, env, jobs=2)  # the workers keep this environment
    try:
        status = wait_for_queue(repo, env, tasks=3)
    except BaseException:
        # Only on failure: idle workers quit by themselves after 10 s, and every `dvc queue stop`
        # also leaves a shutdown in the queue's mailbox that stops the next workers after one task.
        sh(repo, env, "dvc", "queue", "stop", "--kill", ok=False)
        raise
    assert re.search(r"bad-lr\s.*\sFailed\s*$", status, re.M) and status.count("Success") == 2

    baseline, = (row for row in json.loads(sh(repo, env, "dvc", "exp", "show", "--json").stdout)
                 if row["name"] == "main")
    runs = {exp["name"]: (exp["executor"]["state"], exp["revs"][0]) for exp in baseline["experiments"]}
    assert runs.pop("bad-lr")[0] == "failed"
    seeds = {}
    for state, rev in runs.values():
        params = rev["data"]["params"]["params.yaml"]["data"]["train"]
        metrics = rev["data"]["metrics"]
        assert state == "success" and params["epochs"] == 1
        assert metrics["results/train.json"]["data"]["epochs_run"] == 1
        assert {"bleu", "chrf", "loss"} <= set(metrics["results/metrics.json"]["data"])
        seeds[params["seed"]] = metrics["results/train.json"]["data"]["train_loss"]
    assert set(seeds) == {11, 12} and seeds[11] != seeds[12]  # two real, different runs
    for name in runs:
        log = sh(repo, env, "dvc", "queue", "logs", name).stdout
        assert log.count("torch uses 1 CPU thread(s) (SEQ2SEQ_THREADS=1)") == 2  # train and evaluate

    log = sh(repo, env, "dvc", "queue", "logs", "bad-lr").stdout
    assert "invalid value train.learning_rate = -1" in log and "Traceback" not in log
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""  # the queue ran outside the workspace


def process_tree(root: int) -> list[int]:
    """`root` and every process below it, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we read
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it ended meanwhile
        return b""


def queue_workers(repo: Path) -> list[int]:
    """The DVC queue workers serving `repo` (they run in its root)."""
    found = subprocess.run(["pgrep", "-f", "dvc exp queue-worker"], capture_output=True, text=True).stdout
    workers = []
    for pid in map(int, found.split()):
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")) == repo:
                workers.append(pid)
        except OSError:
            continue
    return workers


def kill_workers(repo: Path) -> list[int]:
    """SIGKILL every queue worker of `repo` with all its processes (runs, stages); return the pids."""
    doomed = [pid for worker in queue_workers(repo) for pid in process_tree(worker)]
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while queue_workers(repo):
        time.sleep(0.1)
    return doomed


def snapshot(repo: Path) -> dict[str, bytes]:
    files = [*(repo / "results").rglob("*"), repo / "models/model.pt", repo / "dvc.lock", repo / "params.yaml"]
    return {str(path.relative_to(repo)): path.read_bytes() for path in files if path.is_file()}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker's processes through /proc")
def test_killing_a_queue_worker_mid_training_leaves_the_workspace_as_it_was(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")
    before = snapshot(repo)

    # A run that would train for hours, killed (worker, shell and stage, as the OOM killer or a
    # reboot would) once it has written an epoch's live metrics in its temporary copy.
    sh(repo, env, "dvc", "exp", "run", "--queue", "-n", "killed", "-S", "train.epochs=100000",
       "-S", "train.patience=0")
    start_queue(repo, env, jobs=1)
    try:
        deadline = time.monotonic() + 240
        while not any(path.read_bytes() != before["results/live/metrics.json"]  # the copy starts as the baseline's
                      for path in (repo / ".dvc/tmp/exps").glob("*/results/live/metrics.json")):
            assert time.monotonic() < deadline, sh(repo, env, "dvc", "queue", "status").stdout
            time.sleep(0.5)
        workers = queue_workers(repo)
        assert len(workers) == 1
        training = [pid for pid in process_tree(workers[0]) if b"stages/train.py" in command_line(pid)]
        assert training  # the kill below reaches the stage itself, not only DVC's processes
    finally:
        doomed = kill_workers(repo)  # also when the test fails: never leave a run of 100,000 epochs
    assert set(training) <= set(doomed)

    assert snapshot(repo) == before  # results, model, lock and params untouched
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""
    assert "Data and pipelines are up to date." in sh(repo, env, "dvc", "status").stdout
    status = sh(repo, env, "dvc", "queue", "status").stdout
    assert re.search(r"killed\s.*\sRunning\s*$", status, re.M)  # DVC cannot know it died: README
    # The README's way out: `queue kill` marks it, `queue remove` drops it, the queue runs again.
    sh(repo, env, "dvc", "queue", "kill", "killed")
    sh(repo, env, "dvc", "queue", "remove", "killed")
    assert "killed" not in sh(repo, env, "dvc", "exp", "show", "--json").stdout
    sh(repo, env, "dvc", "exp", "run", "--queue", "-n", "after", "-S", "train.epochs=1")
    start_queue(repo, env, jobs=1)
    assert re.search(r"after\s.*\sSuccess\s*$", wait_for_queue(repo, env, tasks=1), re.M)
    assert snapshot(repo) == before

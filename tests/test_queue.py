"""DVC's experiment queue runs our pipeline: a sweep on two workers, and a bad value that fails alone."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.test_pipeline import repo, sh  # noqa: F401  (repo is a fixture)

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


def test_queued_sweep_runs_on_two_workers_and_a_bad_value_fails_alone(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")  # the baseline: queued runs find its data stages in the cache, skip them
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")

    sh(repo, env, "dvc", "exp", "run", "--queue", "-S", "train.epochs=1", "-S", "train.seed=11,12")
    sh(repo, env, "dvc", "exp", "run", "--queue", "-n", "bad-lr", "-S", "train.learning_rate=-1")
    sh(repo, env, "dvc", "queue", "start", "-j", "2")
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

    log = sh(repo, env, "dvc", "queue", "logs", "bad-lr").stdout
    assert "invalid value train.learning_rate = -1" in log and "Traceback" not in log
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""  # the queue ran outside the workspace

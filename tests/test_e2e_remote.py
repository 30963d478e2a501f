"""Sharing through a DVC remote: a teammate's fresh clone pulls data, model and experiments, reruns nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ran, sh

pytestmark = pytest.mark.e2e


def test_push_then_pull_into_a_fresh_clone_reruns_nothing(repo, tmp_path: Path):
    repo, env = repo
    origin, storage = tmp_path / "origin.git", tmp_path / "storage"
    sh(tmp_path, env, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    sh(repo, env, "git", "remote", "add", "origin", str(origin))
    sh(repo, env, "dvc", "repro")
    refused = sh(repo, env, "dvc", "push", ok=False)  # no remote yet: DVC says how to add one
    assert refused.returncode != 0 and "dvc remote add -d" in refused.stderr

    sh(repo, env, "dvc", "remote", "add", "-d", "storage", str(storage))
    sh(repo, env, "dvc", "push")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline with a remote")
    sh(repo, env, "git", "push", "-q", "origin", "main")
    model = (repo / "models/model.pt").read_bytes()
    sh(repo, env, "dvc", "exp", "run", "-n", "seed2", "-S", "train.seed=2")
    sh(repo, env, "dvc", "exp", "push", "origin", "seed2")  # its git ref to origin, its outputs to storage

    clone = tmp_path / "teammate"
    sh(tmp_path, env, "git", "clone", "-q", str(origin), str(clone))
    sh(clone, env, "dvc", "pull")
    assert (clone / "models/model.pt").read_bytes() == model
    assert "Data and pipelines are up to date" in sh(clone, env, "dvc", "status").stdout
    assert ran(sh(clone, env, "dvc", "repro")) == set()
    translated = sh(clone, env, "python", "-m", "seq2seq", "translate", "Je suis froid.")
    assert len(translated.stdout.splitlines()) == 1

    sh(clone, env, "dvc", "exp", "pull", "origin", "seed2")
    shown = json.loads(sh(clone, env, "dvc", "exp", "show", "--json").stdout)
    names = {exp["name"] for row in shown for exp in row.get("experiments") or []}
    assert "seed2" in names
    sh(clone, env, "dvc", "exp", "apply", "seed2")
    assert "Data and pipelines are up to date" in sh(clone, env, "dvc", "status").stdout
    assert yaml.safe_load((clone / "params.yaml").read_text())["train"]["seed"] == 2


def test_pull_without_a_usable_remote_fails_with_dvcs_message(repo, tmp_path: Path):
    repo, env = repo
    sh(repo, env, "dvc", "repro")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline, never pushed")
    clone = tmp_path / "teammate"
    sh(tmp_path, env, "git", "clone", "-q", str(repo), str(clone))

    # No remote configured: DVC names the cause, then lists what it could not check out.
    missing = sh(clone, env, "dvc", "pull", ok=False)
    assert missing.returncode != 0
    assert "no default remote set" in missing.stderr and "failed to pull data" in missing.stderr

    # A remote whose folder does not exist (a typo, an unmounted disk) reads as a remote missing the files.
    sh(clone, env, "dvc", "remote", "add", "--local", "-d", "gone", str(tmp_path / "no-such-folder"))
    unreachable = sh(clone, env, "dvc", "pull", ok=False)
    assert unreachable.returncode != 0
    assert "do not exist neither locally nor on remote" in unreachable.stderr
    assert "Traceback" not in missing.stderr + unreachable.stderr
    assert not (clone / "models/model.pt").exists()

"""End to end: the real DVC pipeline on a tiny config, in a temporary git repository, offline."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO, ran, set_params, sh

pytestmark = pytest.mark.e2e
def test_repro_cache_param_change_and_experiment(repo):
    repo, env = repo
    first = sh(repo, env, "dvc", "repro")
    assert ran(first) == {"download", "prepare", "split", "vocab", "train", "evaluate"}
    metrics = json.loads((repo / "results/metrics.json").read_text())
    assert {"bleu", "bleu_ci95", "chrf", "chrf_ci95", "bleu_single_ref", "loss", "perplexity", "token_accuracy",
            "exact_match", "n_test", "n_references"} <= set(metrics)
    split = json.loads((repo / "results/split.json").read_text())
    assert split["test_sources_in_train"] == 0 and split["test_targets_in_train"] == 0
    assert split["test_pairs"] == metrics["n_references"] and split["test_sources"] == metrics["n_test"]
    assert len((repo / "results/samples.tsv").read_text().splitlines()) == 1 + 3
    assert len((repo / "results/history.tsv").read_text().splitlines()) == 1 + 2
    assert ran(sh(repo, env, "dvc", "repro")) == set()  # a second run does nothing

    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")
    set_params(repo, {"prepare": {"max_length": 5}})
    assert ran(sh(repo, env, "dvc", "repro")) == {"prepare", "split", "vocab", "train", "evaluate"}
    set_params(repo, {"split": {"seed": 99}})
    assert ran(sh(repo, env, "dvc", "repro")) == {"split", "vocab", "train", "evaluate"}
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "shorter")

    exp = sh(repo, env, "dvc", "exp", "run", "-S", "encoder.bidirectional=true")
    assert ran(exp) == {"train", "evaluate"}
    diff = sh(repo, env, "dvc", "metrics", "diff", "--all", "--json")
    assert "bleu" in json.loads(diff.stdout)["results/metrics.json"]
    show = sh(repo, env, "dvc", "exp", "show", "--json")
    assert "bidirectional" in show.stdout


def documented_recovery_recipe() -> str:
    """The commands of the recovery recipe in docs/troubleshooting.md, exactly as written there."""
    section = (REPO / "docs/troubleshooting.md").read_text()
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_reruns_repeat_byte_for_byte_and_the_documented_recipe_recovers(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")
    metrics = (repo / "results/metrics.json").read_bytes()
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")

    # Every stage again from scratch: the same bytes everywhere, the checkpoint included, so dvc.lock
    # and every git-tracked result stay as committed.
    assert ran(sh(repo, env, "dvc", "repro", "-f")) == {"download", "prepare", "split", "vocab", "train",
                                                        "evaluate"}
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""

    failed = sh(repo, env, "dvc", "exp", "run", "-S", "encoder.hidden_size=0", ok=False)
    assert failed.returncode != 0
    assert "encoder.hidden_size = 0" in failed.stderr and "Traceback" not in failed.stderr
    sh(repo, env, "git", "checkout", "params.yaml")  # a failed `exp run -S` leaves its value in the workspace

    # A run that changes the data, then fails in train: prepare, split and vocab succeeded and
    # rewrote their outputs and dvc.lock; DVC removed train's outputs before running it.
    set_params(repo, {"prepare": {"max_length": 6}, "train": {"epochs": -1}})
    failed = sh(repo, env, "dvc", "repro", ok=False)
    assert failed.returncode != 0 and "train.epochs = -1" in failed.stderr
    assert not (repo / "models/model.pt").exists()
    recovered = sh(repo, env, "bash", "-euc", documented_recovery_recipe())
    assert "up to date" in recovered.stdout
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""
    assert (repo / "results/metrics.json").read_bytes() == metrics
    assert ran(sh(repo, env, "dvc", "repro")) == set()

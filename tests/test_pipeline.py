"""End to end: the real DVC pipeline on a tiny config, in a temporary git repository, offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
TINY = {
    "prepare": {"eng_prefixes": [], "max_length": 10},
    "encoder": {"embedding_size": 8, "hidden_size": 8},
    "decoder": {"embedding_size": 8, "hidden_size": 8},
    "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.2},
    "evaluate": {"num_samples": 3},
}


def sh(repo: Path, env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    if ok and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ran(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"Running stage '(\w+)'", result.stdout + result.stderr))


def set_params(repo: Path, changes: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def repo(tmp_path: Path, mirror) -> tuple[Path, dict]:
    """A git repository holding the project's files (as in the working tree) on a tiny config."""
    folder, sha = mirror
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file() and not name.startswith(("results/", "tests/")) and name != "dvc.lock":
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    set_params(repo, {**TINY, "download": {"sha256": sha}})
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "SEQ2SEQ_DATA_DIR": str(folder),
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("SEQ2SEQ_DEBUG", None)
    sh(repo, env, "git", "init", "-q", "-b", "main")
    # DVC's own git client may not read the GIT_* variables: configure the repository itself too.
    sh(repo, env, "git", "config", "user.name", "seq2seq tests")
    sh(repo, env, "git", "config", "user.email", "tests@seq2seq.invalid")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "tiny")
    return repo, env


def test_repro_cache_param_change_and_experiment(repo):
    repo, env = repo
    first = sh(repo, env, "dvc", "repro")
    assert ran(first) == {"download", "prepare", "split", "vocab", "train", "evaluate"}
    metrics = json.loads((repo / "results/metrics.json").read_text())
    assert {"bleu", "chrf", "loss", "perplexity", "token_accuracy", "exact_match", "n_test"} <= set(metrics)
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


def test_failures_are_clean_and_results_repeat(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")
    metrics, samples = (repo / "results/metrics.json").read_bytes(), (repo / "results/samples.tsv").read_bytes()
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")

    forced = sh(repo, env, "dvc", "repro", "-f", "-s", "train")
    sh(repo, env, "dvc", "repro", "-f", "-s", "evaluate")
    assert ran(forced) == {"train"}
    assert (repo / "results/metrics.json").read_bytes() == metrics  # the same result every time
    assert (repo / "results/samples.tsv").read_bytes() == samples

    failed = sh(repo, env, "dvc", "exp", "run", "-S", "encoder.hidden_size=0", ok=False)
    assert failed.returncode != 0
    assert "encoder.hidden_size = 0" in failed.stderr and "Traceback" not in failed.stderr
    sh(repo, env, "git", "checkout", "params.yaml")  # a failed `exp run -S` leaves its value in the workspace
    set_params(repo, {"train": {"epochs": -1}})
    failed = sh(repo, env, "dvc", "repro", ok=False)
    assert failed.returncode != 0 and "train.epochs = -1" in failed.stderr
    # DVC removed the failed stage's outputs before running it: git restores the small results it
    # tracks, `dvc checkout` the cached ones (the model).
    assert not (repo / "models/model.pt").exists()
    sh(repo, env, "git", "checkout", "--", "params.yaml", "results")
    sh(repo, env, "dvc", "checkout")
    assert "up to date" in sh(repo, env, "dvc", "status").stdout
    assert (repo / "results/metrics.json").read_bytes() == metrics

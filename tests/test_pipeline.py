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

    exp = sh(repo, env, "dvc", "exp", "run", "-S", "encoder.bidirectional=false")
    assert ran(exp) == {"train", "evaluate"}
    diff = sh(repo, env, "dvc", "metrics", "diff", "--all", "--json")
    assert "bleu" in json.loads(diff.stdout)["results/metrics.json"]
    show = sh(repo, env, "dvc", "exp", "show", "--json")
    assert "bidirectional" in show.stdout


def readme_recovery_recipe() -> str:
    """The commands of the README's recovery recipe, exactly as written there."""
    section = (REPO / "README.md").read_text().split("## When things go wrong", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_reruns_repeat_byte_for_byte_and_the_readme_recipe_recovers(repo):
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
    recovered = sh(repo, env, "bash", "-euc", readme_recovery_recipe())
    assert "up to date" in recovered.stdout
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""
    assert (repo / "results/metrics.json").read_bytes() == metrics
    assert ran(sh(repo, env, "dvc", "repro")) == set()

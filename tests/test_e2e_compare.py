"""`seq2seq compare` on the real pipeline's tiny config in a temporary repository: HEAD against the
workspace and an experiment, two experiments by name, a params selection, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ran, sh

pytestmark = pytest.mark.e2e
FAST = ("--bootstrap", "200", "--trials", "500")


def compare(repo: Path, env: dict, *args: str, ok: bool = True):
    return sh(repo, env, "seq2seq", "compare", *args, ok=ok)


def bleu(repo: Path) -> float:
    return json.loads((repo / "results/metrics.json").read_text())["bleu"]


def exp_run(repo: Path, env: dict, name: str, *params: str) -> float:
    """Run a named experiment; its metrics land in the workspace: return its test BLEU."""
    result = sh(repo, env, "dvc", "exp", "run", "-n", name, *[a for p in params for a in ("-S", p)])
    assert ran(result) <= {"prepare", "split", "vocab", "train", "evaluate"}
    return bleu(repo)


def test_compare_revisions_experiments_and_selections(repo):
    repo, env = repo
    sh(repo, env, "dvc", "repro")
    baseline = bleu(repo)
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "baseline")

    # The first commit was never evaluated: no kept translations, a message naming it.
    missing = compare(repo, env, "HEAD~1", "HEAD", ok=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "revision 'HEAD~1' has no results/translations.tsv" in missing.stderr

    # The user's experiment reruns exactly train and evaluate; compare's default is HEAD against the
    # workspace, as `dvc metrics diff`, and its delta is the one that diff shows.
    exp = sh(repo, env, "dvc", "exp", "run", "-n", "bi", "-S", "encoder.bidirectional=true")
    assert ran(exp) == {"train", "evaluate"}
    bi = bleu(repo)
    # --all: a tiny model's BLEU is often 0 on both sides, and the diff leaves out what did not change.
    diff = json.loads(sh(repo, env, "dvc", "metrics", "diff", "--all", "--json").stdout)["results/metrics.json"]
    out = json.loads(compare(repo, env, "--json", *FAST).stdout)
    assert set(out) == {"a", "b", "n_sources", "metrics"} and (out["a"], out["b"]) == ("HEAD", "workspace")
    assert set(out["metrics"]) == {"bleu", "chrf"}
    for entry in out["metrics"].values():
        assert set(entry) == {"a", "b", "delta", "ci95", "p_value"}
        assert entry["ci95"][0] <= entry["ci95"][1] and 0 < entry["p_value"] <= 1
    assert (out["metrics"]["bleu"]["a"], out["metrics"]["bleu"]["b"]) == (baseline, bi)
    for name in ("bleu", "chrf"):
        entry, shown = out["metrics"][name], diff[name]
        assert (entry["a"], entry["b"]) == (shown["old"], shown["new"])
        assert entry["delta"] == round(shown["new"] - shown["old"], 4)
    assert out["n_sources"] == json.loads((repo / "results/metrics.json").read_text())["n_test"]
    # The same experiment named, read from its git ref rather than the workspace: the same numbers.
    named = json.loads(compare(repo, env, "HEAD", "bi", "--json", *FAST).stdout)
    assert named["metrics"] == out["metrics"] and named["b"] == "bi"

    # Two experiments by name, then every finished experiment with a given param on each side.
    bi2 = exp_run(repo, env, "bi2", "encoder.bidirectional=true", "train.seed=2")
    # The workspace now holds bi2's params (dvc exp run applies them): say the encoder again.
    uni2 = exp_run(repo, env, "uni2", "encoder.bidirectional=false", "train.seed=2")
    two = json.loads(compare(repo, env, "uni2", "bi2", "--json", *FAST).stdout)
    assert (two["metrics"]["bleu"]["a"], two["metrics"]["bleu"]["b"]) == (uni2, bi2)
    sel = json.loads(compare(repo, env, "encoder.bidirectional=false", "encoder.bidirectional=true", "--json",
                             *FAST).stdout)
    assert sorted(sel["runs"]["a"]) == ["uni2"] and sorted(sel["runs"]["b"]) == ["bi", "bi2"]
    b = sel["metrics"]["bleu"]
    assert b["a"] == uni2 and b["b"] == round((bi + bi2) / 2, 4) and sorted(b["b_runs"]) == sorted([bi, bi2])
    assert b["b_std"] == pytest.approx(abs(bi - bi2) / 2 ** 0.5, abs=1e-4) and b["a_std"] == 0.0
    md = compare(repo, env, "uni2", "bi,bi2", "--md", *FAST).stdout
    assert "| metric | A: uni2 | B: bi,bi2 | B - A | 95% CI | p |" in md
    assert md.strip().splitlines()[-1].startswith(("B is", "no significant difference"))

    # Another split's test sources cannot be paired with these; a param nobody has is named.
    exp_run(repo, env, "short", "encoder.bidirectional=false", "train.seed=1", "prepare.max_length=5")
    other = compare(repo, env, "HEAD", "short", ok=False)
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert "'HEAD' and 'short' were scored on different test sources" in other.stderr
    typo = compare(repo, env, "encoder.bidirectionl=true", ok=False)
    assert typo.returncode == 1 and "encoder.bidirectionl in 'encoder.bidirectionl=true' is not a param" in typo.stderr
    nothing = compare(repo, env, "encoder.hidden_size=999", ok=False)
    assert nothing.returncode == 1 and "no finished experiment matches 'encoder.hidden_size=999'" in nothing.stderr

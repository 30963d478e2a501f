"""`seq2seq compare A B`: is B's translation better than A's, by how much, and how sure?

Each side is one or more git revisions or DVC experiments (training seeds of one configuration), or
a params selection over the finished experiments `dvc exp show` lists (`encoder.bidirectional=true`).
Their kept test translations (`results/translations.tsv`) are read through `dvc.api`, never by
checking anything out, and compared sentence by sentence with `seq2seq.evaluation.significance`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from seq2seq.config import SECTIONS
from seq2seq.errors import UserError
from seq2seq.evaluation.metrics import METRICS
from seq2seq.evaluation.significance import NAMES, MetricComparison, compare_metric, verdict
from seq2seq.evaluation.translations import Translations, parse

log = logging.getLogger("seq2seq.compare")
PARAM_KEYS = [f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
WORKSPACE = "workspace"
TRANSLATIONS = "results/translations.tsv"
FINISHED = (None, "Success")  # `dvc exp show` states of experiments whose results are complete


@dataclass(frozen=True)
class Side:
    """What the user named for one side, and the runs it stands for."""

    spec: str
    runs: list[str]  # revisions or experiment names; "workspace" is the working tree
    translations: list[Translations]


def parse_spec(spec: str) -> tuple[list[str], dict[str, str]]:
    """A side is comma-separated revisions (`HEAD,seed2,seed3`) or comma-separated params
    conditions (`encoder.bidirectional=true,train.epochs=10`), not a mix."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    conditions = [item for item in items if "=" in item]
    if not items or (conditions and len(conditions) != len(items)):
        raise UserError(f"cannot read the side {spec!r}: give comma-separated revisions or experiment names "
                        "(HEAD,my-exp), or comma-separated params conditions (encoder.bidirectional=true), "
                        "not a mix of both and not nothing.")
    return ([], dict(item.split("=", 1) for item in items)) if conditions else (items, {})


def _matches(value: object, wanted: str) -> bool:
    """Whether a `dvc exp show` params value (numbers as floats, booleans as 'True') equals `wanted`
    as YAML reads it (`true`, `2`, `0.002`, `general`); numbers compare as numbers, so `5e-5`,
    `0.00005` and dvc's `5e-05` are one value."""
    def read(text: object) -> object:
        try:
            return yaml.safe_load(str(text))
        except yaml.YAMLError:
            return str(text)
    got, want = read(value), read(wanted)
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    try:
        return float(str(value)) == float(wanted)
    except ValueError:
        return got == want


def _param(row: dict, key: str) -> object:
    """A params value of a `dvc exp show` row (prefixed with its file when a metric shares its name)."""
    return row.get(key, row.get(f"params.yaml:{key}"))


def _one_per_params(rows: list[dict]) -> list[dict]:
    """The first of each group of experiments with identical params: a rerun of one configuration
    and seed (for example with another thread count) is not another seed."""
    kept: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(str(_param(row, k)) for k in PARAM_KEYS)
        if key in kept:
            log.warning("%s has the same params as %s: counted once (the first listed)",
                        row.get("Experiment") or row["rev"], kept[key].get("Experiment") or kept[key]["rev"])
        else:
            kept[key] = row
    return list(kept.values())


def select_experiments(rows: Sequence[dict], conditions: dict[str, str], spec: str) -> list[str]:
    """Names of the finished experiments (not the baselines or the workspace) among `dvc exp show`'s
    rows whose params meet every condition, in the order listed, one per distinct params. They
    should be runs of one configuration (seeds): a warning names any other param in which they differ."""
    experiments = [r for r in rows if r.get("typ") != "baseline" and r.get("State") in FINISHED]
    for key in conditions:
        if not any(key in r or f"params.yaml:{key}" in r for r in rows):
            raise UserError(f"{key} in {spec!r} is not a param `dvc exp show` lists: write it as section.key, "
                            "as in params.yaml (encoder.bidirectional=true).")
    chosen = [r for r in experiments if all(_matches(_param(r, k), v) for k, v in conditions.items())]
    if not chosen:
        raise UserError(f"no finished experiment matches {spec!r} among the {len(experiments)} that `dvc exp "
                        "show --rev` lists for the baseline commit: run them first (dvc exp run -S ..., or dvc exp run "
                        "--queue and dvc queue start), or name revisions instead.")
    chosen = _one_per_params(chosen)
    differing = [k for k in PARAM_KEYS if k != "train.seed" and len({str(_param(r, k)) for r in chosen}) > 1]
    if differing:
        log.warning("the experiments matching %r differ in %s, not only in train.seed: they are compared "
                    "as runs of one configuration; add conditions to select one", spec, ", ".join(differing))
    return [r.get("Experiment") or r["rev"] for r in chosen]


def read_translations(repo: Path, rev: str) -> Translations:
    """`results/translations.tsv` at revision or experiment `rev` ("workspace": the working tree),
    or, when `rev` names a `.tsv` file, that file: translations the evaluate stage wrote elsewhere
    (e.g. for an ensemble, stages/evaluate.py with several --model)."""
    import dvc.api
    from dvc.exceptions import DvcException, PathMissingError
    from dvc.scm import RevError

    if rev.endswith(".tsv") and Path(rev).is_file():
        return parse(Path(rev).read_text(encoding="utf-8"), rev)

    where = "the workspace" if rev == WORKSPACE else f"revision {rev!r}"
    try:
        text = dvc.api.read(TRANSLATIONS, repo=str(repo), rev=None if rev == WORKSPACE else rev)
    except PathMissingError:
        raise UserError(f"{where} has no {TRANSLATIONS}: its test translations were not kept (it was evaluated "
                        "before the evaluate stage wrote them, or never evaluated). Rerun the pipeline there "
                        "(dvc repro, or dvc exp run) and compare the new run.") from None
    except RevError as err:
        raise UserError(f"cannot resolve {rev!r} ({err}): name a git revision or an experiment; `git log` and "
                        "`dvc exp show` list what can be compared.") from None
    except DvcException as err:
        raise UserError(f"cannot read {TRANSLATIONS} at {where} through DVC ({err}); run seq2seq compare "
                        "inside the project's repository, or pass --repo.") from None
    return parse(text, f"{TRANSLATIONS} at {where}")


def load_side(repo: Path, spec: str, baseline: str = "HEAD") -> Side:
    """Resolve one side's spec to runs and read each run's translations. A run whose translations
    repeat an earlier one's exactly (the same params rerun, restored from DVC's run cache) is the
    same run and counts once. A params selection picks among the experiments of commit `baseline`."""
    revisions, conditions = parse_spec(spec)
    if conditions:
        import dvc.api
        from dvc.exceptions import DvcException

        try:
            rows = dvc.api.exp_show(repo=str(repo), revs=[baseline])
        except DvcException as err:
            raise UserError(f"cannot list the experiments in {repo} ({err}): run seq2seq compare inside the "
                            "project's repository, or pass --repo.") from None
        revisions = select_experiments(rows, conditions, spec)
    runs: list[str] = []
    tables: list[Translations] = []
    for rev in dict.fromkeys(revisions):  # a name given twice is one run
        table = read_translations(repo, rev)
        if table in tables:
            log.warning("%s repeats the translations of %s exactly: the same run (one commit, or the same "
                        "params rerun and restored from DVC's run cache), counted once", rev,
                        runs[tables.index(table)])
            continue
        runs.append(rev)
        tables.append(table)
    return Side(spec, runs, tables)


def check_same_sources(a: Side, b: Side) -> None:
    """Every run on both sides must have been scored on the same sources with the same references."""
    first = a.translations[0]
    for side in (a, b):
        for rev, table in zip(side.runs, side.translations):
            if (table.sources, table.references) != (first.sources, first.references):
                raise UserError(f"{a.runs[0]!r} and {rev!r} were scored on different test sources "
                                f"({len(first.sources)} and {len(table.sources)} sources, or other references): "
                                "another split, direction or filter. Compare only runs of the same data "
                                "pipeline; `dvc params diff` shows which params differ.")


def compare_sides(a: Side, b: Side, n_bootstrap: int, n_trials: int, seed: int) -> dict[str, MetricComparison]:
    """Each metric's comparison of side A's runs with side B's on their shared test sources."""
    check_same_sources(a, b)
    references = a.translations[0].references
    hyps = lambda side: [t.hypotheses for t in side.translations]  # noqa: E731
    return {name: compare_metric(name, hyps(a), hyps(b), references, n_bootstrap, n_trials, seed)
            for name in METRICS}


def as_json(a: Side, b: Side, n_sources: int, result: dict[str, MetricComparison]) -> dict:
    """The `--json` object. With one run per side: {"a", "b", "n_sources", "metrics": {name: {"a",
    "b", "delta", "ci95", "p_value"}}}; with more, each side's runs and the metrics' standard
    deviations and per-run scores too."""
    several = len(a.runs) > 1 or len(b.runs) > 1
    out: dict = {"a": a.spec, "b": b.spec, "n_sources": n_sources, "metrics": {}}
    if several:
        out["runs"] = {"a": a.runs, "b": b.runs}
    for name, c in result.items():
        entry = {"a": c.a, "b": c.b, "delta": c.delta, "ci95": list(c.ci95), "p_value": round(c.p_value, 6)}
        if several:
            entry.update(a_std=c.a_std, b_std=c.b_std, a_runs=list(c.a_runs), b_runs=list(c.b_runs))
        out["metrics"][name] = entry
    return out


def _cell(mean: float, std: float, runs: int) -> str:
    return f"{mean:.2f}" if runs == 1 else f"{mean:.2f} ± {std:.2f}"


def as_table(a: Side, b: Side, n_sources: int, result: dict[str, MetricComparison], alpha: float,
             markdown: bool) -> str:
    """A plain-text table (or a Markdown one for a pull request) and the one-line verdict."""
    head = ["metric", f"A: {a.spec}", f"B: {b.spec}", "B - A", "95% CI", "p"]
    rows = [[NAMES[name], _cell(c.a, c.a_std, len(a.runs)), _cell(c.b, c.b_std, len(b.runs)), f"{c.delta:+.2f}",
             f"[{c.ci95[0]:+.2f}, {c.ci95[1]:+.2f}]", f"{c.p_value:.2g}"] for name, c in result.items()]
    runs = (f"A: {len(a.runs)} run(s) ({', '.join(a.runs)}); B: {len(b.runs)} run(s) ({', '.join(b.runs)}); "
            f"{n_sources} test sources, each against all of its references")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join([runs, "", *lines, "", verdict(result, alpha)])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head, *rows]]
    return "\n".join([runs, *lines, verdict(result, alpha)])

"""dvc.yaml must agree with the code: each stage depends on exactly the modules its script imports
(transitively) and declares exactly the params sections it loads."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = DVC["stages"]


def module_path(name: str) -> Path | None:
    base = REPO / "src" / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The seq2seq modules `path` imports when it is imported: its module-level imports (one inside
    a function runs only when that function does, e.g. `translate --reference`'s model)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seq2seq"):
            found.add(node.module)
            # `from seq2seq.model import reference` imports the module seq2seq.model.reference
            found.update(f"{node.module}.{a.name}" for a in node.names if module_path(f"{node.module}.{a.name}"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("seq2seq"))
    return found


def transitive_sources(script: Path) -> set[str]:
    todo, seen = [script], set()
    while todo:
        for name in imported_modules(todo.pop()):
            path = module_path(name)
            if path is not None and path.name != "__init__.py":
                rel = path.relative_to(REPO).as_posix()
                if rel not in seen:
                    seen.add(rel)
                    todo.append(path)
    return seen


def loaded_sections(script: Path) -> set[str]:
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_params":
            return {a.value for a in node.args if isinstance(a, ast.Constant)}
    return set()


@pytest.mark.parametrize("name", list(STAGES))
def test_code_deps_match_imports(name):
    stage = STAGES[name]
    script = REPO / "stages" / f"{name}.py"
    declared = {d for d in stage["deps"] if d.startswith("src/")}
    assert f"stages/{name}.py" in stage["deps"]
    assert declared == transitive_sources(script)


@pytest.mark.parametrize("name", list(STAGES))
def test_params_sections_match_loads(name):
    assert set(STAGES[name]["params"]) == loaded_sections(REPO / "stages" / f"{name}.py")


def test_cmd_paths_are_declared():
    for name, stage in STAGES.items():
        declared = set(stage.get("deps", []))
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                declared.add(out if isinstance(out, str) else next(iter(out)))
        paths = {w for w in stage["cmd"].split() if "/" in w and not w.startswith("stages/")}
        assert paths <= declared, (name, paths - declared)
        assert paths | {f"stages/{name}.py"} >= {d for d in declared if not d.startswith("src/")}, name

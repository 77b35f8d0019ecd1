"""The import rules of the architecture, checked for real (subprocesses, sys.modules)
and statically (every import statement in runtime/ and train/)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def _top(mods: set[str]) -> set[str]:
    return {m.split(".")[0] for m in mods}


@pytest.mark.parametrize(
    "code",
    [
        "import edgesr",
        "import edgesr.runtime, edgesr.runtime.ort_runner, edgesr.metrics, edgesr.imageops, edgesr.samples",
        "import edgesr.cli.main",
    ],
)
def test_core_and_runtime_import_no_torch(code: str) -> None:
    mods = _modules_after(code)
    assert "torch" not in _top(mods)
    assert not {"edgesr.train", "edgesr.export"} & mods


def test_cli_help_imports_no_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "edgesr", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "train" in out.stdout and "stream" in out.stdout
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
    assert not {m for m in imported if m.startswith(("edgesr.train", "edgesr.export"))}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, nesting depth) of every import in a file; depth 0 = module level."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            d = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, depth) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, depth))
            visit(child, d)

    visit(tree, 0)
    return found


def _py(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def test_runtime_never_imports_torch_train_or_export() -> None:
    bad = [
        (p.name, m)
        for p in _py("runtime")
        for m, _ in _imports(p)
        if m.split(".")[0] == "torch" or m.startswith(("edgesr.train", "edgesr.export"))
    ]
    assert not bad


def test_core_imports_torch_only_inside_functions() -> None:
    bad = [(p.name, m) for p in _py("edgesr") for m, d in _imports(p) if d == 0 and m.split(".")[0] == "torch"]
    assert not bad
    cli_stage_imports = [
        (p.name, m)
        for p in _py("edgesr/cli")
        for m, d in _imports(p)
        if d == 0 and m.startswith(("edgesr.train", "edgesr.export", "edgesr.runtime"))
    ]
    assert not cli_stage_imports


TOOLS = ("edgesr/cli", "edgesr/bench", "edgesr/demo")  # tools over all stages; the rest of edgesr/ is the core
STAGES = ("edgesr.train", "edgesr.export", "edgesr.runtime")
# The registries (one table per extension axis) name each kind's stage code through small functions that import
# it when called: inside functions only, never at module level.
REGISTRIES = ("backends.py", "precisions.py")


def test_core_imports_no_stage() -> None:
    core = [p for p in _py("edgesr") if not any(REPO / t in p.parents for t in TOOLS)]
    assert len(core) > 10
    bad = [(p.name, m) for p in core for m, depth in _imports(p)
           if m.startswith(STAGES) and not (p.name in REGISTRIES and p.parent == REPO / "edgesr" and depth > 0)]
    assert not bad


def test_registries_import_no_stage_when_loaded() -> None:
    mods = _modules_after("import edgesr.backends, edgesr.precisions, edgesr.artifact")
    assert not {m for m in mods if m.startswith(STAGES)} and "torch" not in _top(mods)


def test_bench_and_demo_import_train_lazily() -> None:
    """The carve-out: edgesr.bench and edgesr.demo drive every stage, like the CLI. They may import export and
    runtime (torch-free at module level); train, which owns torch, only inside functions."""
    tools = _py("edgesr/bench") + _py("edgesr/demo")
    assert len(tools) >= 8
    bad = [(p.name, m) for p in tools for m, d in _imports(p) if d == 0 and m.startswith("edgesr.train")]
    assert not bad
    mods = _modules_after("import edgesr.bench.run, edgesr.bench.report, edgesr.demo.run")
    assert "torch" not in _top(mods) and "edgesr.train" not in mods


def test_train_does_not_import_export_or_runtime() -> None:
    bad = [(p.name, m) for p in _py("train") for m, _ in _imports(p) if m.startswith(STAGES[1:])]
    assert not bad


def test_benchmarks_import_nothing_from_tests() -> None:
    """benchmarks/ are scripts over the installed package: what they share with the tests lives in
    ``edgesr.testing``, never on a ``sys.path`` that reaches into tests/."""
    test_modules = {p.stem for p in _py("tests")}
    scripts = _py("benchmarks")
    assert len(scripts) >= 10
    bad = [(p.name, m) for p in scripts for m, _ in _imports(p) if m.split(".")[0] in test_modules]
    bad += [(p.name, "sys.path") for p in scripts if "sys.path" in p.read_text()]
    assert not bad

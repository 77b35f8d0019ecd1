"""No module uses another file's private names (``from X import _name``, ``X._name``): what one file
shares with others has a public name, so the tree says what is shared and what is not."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("edgesr", "train", "export", "runtime", "benchmarks")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, filename: str = "<string>", siblings: frozenset[str] = frozenset()) -> list[str]:
    """Every ``from X import _name`` and ``X._name`` where ``X`` is a name this file imported from the project
    (``edgesr.*``, or a module in ``siblings``: the files next to it, for scripts)."""

    def ours(module: str | None) -> bool:
        return module is not None and (module.split(".")[0] in ("edgesr", *siblings))

    tree = ast.parse(source, filename)
    imported: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names if ours(a.name))
        elif isinstance(node, ast.ImportFrom) and ours(node.module):
            imported.update(a.asname or a.name for a in node.names)
            found.extend(f"from {node.module} import {a.name}" for a in node.names if _private(a.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in imported:
                found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


def test_the_scan_finds_both_forms() -> None:
    code = "import edgesr.runtime.trt_runner as r\nfrom edgesr.cli.export_cmds import _progress\nr._logger()\n"
    assert private_uses(code) == ["from edgesr.cli.export_cmds import _progress", "r._logger (line 3)"]
    assert private_uses("from bench_shipped import _x", siblings=frozenset({"bench_shipped"})) != []
    assert private_uses("import torch\ntorch.nn.modules.batchnorm._BatchNorm\n") == []  # not ours
    own = "import os\nclass A:\n    _x = 1\n    def f(self):\n        return self._x + os.__name__\n"
    assert private_uses(own) == []  # its own private names and dunders are fine


def test_no_module_imports_a_private_name_across_files() -> None:
    files = [p for folder in PRODUCT for p in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 80
    bad = {}
    for p in files:
        siblings = frozenset(q.stem for q in p.parent.glob("*.py") if q != p)
        if uses := private_uses(p.read_text(), str(p), siblings):
            bad[str(p.relative_to(REPO))] = uses
    assert not bad

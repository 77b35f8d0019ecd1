"""Jetsons run the system Python 3.10 (JetPack 6): the code must not need 3.11+.

vermin checks syntax and stdlib use for 3.10; mypy checks the types as Python 3.10 sees them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["edgesr", "train", "export", "runtime"]


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed (pip install 'edgesr[dev]')")
    return found


def test_sources_run_on_python_310() -> None:
    out = subprocess.run(
        [_tool("vermin"), "-t=3.10-", "--no-tips", "--violations", *SOURCES, "tests", "benchmarks"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_types_check_for_python_310() -> None:
    out = subprocess.run(
        [_tool("mypy"), "--python-version", "3.10", *SOURCES], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]

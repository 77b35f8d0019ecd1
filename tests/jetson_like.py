"""The Jetson-like Python (``edgesr.testing.jetson_like``, shared with the benchmarks) for the tests: every
test skips with the reason when the venv cannot be made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgesr.testing import Unavailable, jetson_like
from edgesr.testing.jetson_like import SYSTEM_PYTHON, base_requirements

__all__ = ["SYSTEM_PYTHON", "base_requirements", "jetson_like_venv", "system_python_runs"]


def system_python_runs(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by the system Python (a probe for what the OS provides), or ``pytest.skip``."""
    try:
        return jetson_like.system_python_runs(code)
    except Unavailable as exc:
        pytest.skip(str(exc))


def jetson_like_venv() -> Path:
    """The venv folder (``bin/python`` in it), or ``pytest.skip`` with why not."""
    try:
        return jetson_like.jetson_like_venv()
    except Unavailable as exc:
        pytest.skip(str(exc))

"""The Jetson-like Python, one for every test that needs it (network outputs, the live tests).

As on a Jetson: a venv made from the system Python (``/usr/bin/python3``, or ``EDGESR_SYSTEM_PYTHON``) with
``--system-site-packages``, so GStreamer's Python bindings (``gi``, GstRtspServer) and an OpenCV with GStreamer
come from the OS packages; then edgesr's base dependencies from pyproject.toml (no extras: no torch, no pip
OpenCV) with numpy pinned to the system's (the OS OpenCV and gi are built against it), and edgesr itself,
installed (not editable, the README's recipe) from a copy of this checkout (building in the checkout would
leave build/ there).

The venv with its dependencies is built once and reused across sessions (rebuilt when the system Python, the
dependency list or the checkout's place changes); edgesr is reinstalled into it once per session, so it is
always this checkout's code. pip's cache or find-links make it work offline once the wheels are there; the
callers probe what they need from the system Python first, and every test skips with the reason when the venv
cannot be made.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path(os.environ.get("EDGESR_SYSTEM_PYTHON", "/usr/bin/python3"))


def base_requirements() -> list[str]:
    """edgesr's base dependencies (no extras) from pyproject.toml."""
    try:
        import tomllib  # novermin (3.11+; tomli below on 3.10)
    except ImportError:  # Python 3.10
        import tomli as tomllib
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return [str(d) for d in deps]


def system_python_runs(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by the system Python (a probe for what the OS provides)."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no system Python at {SYSTEM_PYTHON} (set EDGESR_SYSTEM_PYTHON)")
    return subprocess.run([str(SYSTEM_PYTHON), "-c", code], capture_output=True, text=True)


def _venv_dir() -> Path:
    key = hashlib.sha256(f"{SYSTEM_PYTHON}:{base_requirements()}:{REPO}".encode()).hexdigest()[:12]
    root = Path(os.environ.get("EDGESR_JETSON_VENV_DIR", Path(tempfile.gettempdir()) / "edgesr-test-venvs"))
    return root / f"jetson-like-{key}"


def _run(cmd: list[str], what: str, timeout: float = 900) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        pytest.skip(f"cannot {what} in the Jetson-like venv: {out.stderr.strip()[-300:]}")


@functools.cache
def jetson_like_venv() -> Path:
    """The venv folder (``bin/python`` in it), or ``pytest.skip`` with why not."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no system Python at {SYSTEM_PYTHON} (set EDGESR_SYSTEM_PYTHON)")
    venv = _venv_dir()
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    ready = venv / ".edgesr-deps-ready"
    if not (ready.exists() and python.exists()):
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        _run([str(SYSTEM_PYTHON), "-m", "venv", "--system-site-packages", str(venv)], "make a venv (python3-venv)")
        have = subprocess.run([str(python), "-c", "import numpy; print(numpy.__version__)"], capture_output=True,
                              text=True)
        constraints = venv / "constraints.txt"
        constraints.write_text(f"numpy=={have.stdout.strip()}\n" if have.returncode == 0 else "")
        _run([*pip, "-c", str(constraints), *base_requirements()], "install edgesr's base dependencies (offline?)")
        ready.write_text("ok\n")
    src = Path(tempfile.mkdtemp(prefix="edgesr-src-"))
    try:
        for part in ["edgesr", "train", "export", "runtime"]:
            shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        for part in ["pyproject.toml", "README.md"]:
            shutil.copy2(REPO / part, src / part)
        _run([*pip, "--no-deps", "--no-build-isolation", "--force-reinstall", str(src)], "install edgesr")
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return venv

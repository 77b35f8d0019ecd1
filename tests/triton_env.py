"""The venv that runs ``edgesr serve``: NVIDIA's PyTriton (a real Triton server with its Python backend) beside
edgesr's base install, as docs/triton.md tells users to make it.

PyTriton pins numpy < 2, and its backend stub loads the OS Python's libpython, so the venv is made from the
system Python (``/usr/bin/python3``, or ``EDGESR_SYSTEM_PYTHON``) without its site packages. It is built once
and reused across sessions (rebuilt when the dependency list changes); edgesr is reinstalled into it once per
session from a copy of this checkout. Tests skip with the reason where it cannot be made (no system Python,
no venv module, offline without the wheels).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from jetson_like import REPO, SYSTEM_PYTHON, base_requirements

PYTRITON = "nvidia-pytriton>=0.5,<0.8"


def _step(cmd: list[str], what: str, timeout: float = 1200) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        pytest.skip(f"cannot {what} for the Triton server venv: {out.stderr.strip()[-300:]}")


@functools.cache
def pytriton_venv() -> Path:
    """The venv folder (``bin/edgesr`` in it), or ``pytest.skip`` with why not."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no system Python at {SYSTEM_PYTHON} (set EDGESR_SYSTEM_PYTHON)")
    deps = [*base_requirements(), PYTRITON, "setuptools>=64", "wheel"]
    key = hashlib.sha256(f"{SYSTEM_PYTHON}:{deps}".encode()).hexdigest()[:12]
    root = Path(os.environ.get("EDGESR_JETSON_VENV_DIR", Path(tempfile.gettempdir()) / "edgesr-test-venvs"))
    venv = root / f"pytriton-{key}"
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    ready = venv / ".edgesr-deps-ready"
    if not (ready.exists() and python.exists()):
        shutil.rmtree(venv, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        _step([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], "make a venv (python3-venv)")
        _step([*pip, *deps], "install PyTriton and edgesr's base dependencies (offline?)")
        ready.write_text("ok\n")
    src = Path(tempfile.mkdtemp(prefix="edgesr-src-"))
    try:
        for part in ["edgesr", "train", "export", "runtime"]:
            shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        for part in ["pyproject.toml", "README.md"]:
            shutil.copy2(REPO / part, src / part)
        _step([*pip, "--no-deps", "--no-build-isolation", "--force-reinstall", str(src)], "install edgesr")
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

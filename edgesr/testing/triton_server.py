"""The venv that runs ``edgesr serve``: NVIDIA's PyTriton (a real Triton server with its Python backend) beside
edgesr's base install, made as docs/triton.md tells users to make it; for the tests and the benchmark.

PyTriton pins numpy < 2 and its backend stub loads the OS Python's libpython, so the venv is made from the
system Python (``/usr/bin/python3``, or ``EDGESR_SYSTEM_PYTHON``) without its site packages. It is built once and
reused across sessions (rebuilt when the dependency list changes); edgesr is reinstalled into it once per
process from a copy of this checkout. Anything missing raises ``Unavailable`` with why.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
from pathlib import Path

from edgesr.testing import Unavailable
from edgesr.testing.jetson_like import SYSTEM_PYTHON, base_requirements, install_checkout, run_step, venv_root

PYTRITON = "nvidia-pytriton>=0.5,<0.8"


def _step(cmd: list[str], what: str) -> None:
    run_step(cmd, what, "for the Triton server venv", timeout=1200)


@functools.cache
def pytriton_venv() -> Path:
    """The venv folder (``bin/edgesr`` in it)."""
    if not SYSTEM_PYTHON.exists():
        raise Unavailable(f"no system Python at {SYSTEM_PYTHON} (set EDGESR_SYSTEM_PYTHON)")
    deps = [*base_requirements(), PYTRITON, "setuptools>=64", "wheel"]
    key = hashlib.sha256(f"{SYSTEM_PYTHON}:{deps}".encode()).hexdigest()[:12]
    root = venv_root()
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
    install_checkout(pip, _step)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

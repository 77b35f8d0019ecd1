"""The Jetson-like Python, one for every test and benchmark that needs it (network outputs, the live tests).

As on a Jetson: a venv made from the system Python (``/usr/bin/python3``, or ``EDGESR_SYSTEM_PYTHON``) with
``--system-site-packages``, so GStreamer's Python bindings (``gi``, GstRtspServer) and an OpenCV with GStreamer
come from the OS packages; then edgesr's base dependencies from pyproject.toml (no extras: no torch, no pip
OpenCV) with numpy pinned to the system's (the OS OpenCV and gi are built against it), and edgesr itself,
installed (not editable, the Jetson recipe of docs/jetson.md) from a copy of this checkout (building in the
checkout would leave build/ there).

The venv with its dependencies is built once and reused across sessions (rebuilt when the system Python, the
dependency list or the checkout's place changes); edgesr is reinstalled into it once per process, so it is
always this checkout's code. pip's cache or find-links make it work offline once the wheels are there; the
callers probe what they need from the system Python first. Anything missing raises ``Unavailable`` with why.
It needs a source checkout (an editable install): it installs the checkout, not the installed package.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgesr.testing import Unavailable

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path(os.environ.get("EDGESR_SYSTEM_PYTHON", "/usr/bin/python3"))
GST_RTSP_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "assert Gst.ElementFactory.find('x264enc') or Gst.ElementFactory.find('nvv4l2h264enc'), 'no H.264 encoder'"
)


def base_requirements() -> list[str]:
    """edgesr's base dependencies (no extras) from the checkout's pyproject.toml."""
    try:
        import tomllib  # novermin (3.11+; tomli below on 3.10)
    except ImportError:  # Python 3.10
        import tomli as tomllib
    pyproject = REPO / "pyproject.toml"
    if not pyproject.exists():
        raise Unavailable(f"the Jetson-like venv needs a source checkout of edgesr (no {pyproject})")
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [str(d) for d in deps]


def system_python_runs(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by the system Python (a probe for what the OS provides)."""
    if not SYSTEM_PYTHON.exists():
        raise Unavailable(f"no system Python at {SYSTEM_PYTHON} (set EDGESR_SYSTEM_PYTHON)")
    return subprocess.run([str(SYSTEM_PYTHON), "-c", code], capture_output=True, text=True)


def venv_dir() -> Path:
    key = hashlib.sha256(f"{SYSTEM_PYTHON}:{base_requirements()}:{REPO}".encode()).hexdigest()[:12]
    return venv_root() / f"jetson-like-{key}"


def venv_root() -> Path:
    """Where the test venvs live (reused across sessions)."""
    return Path(os.environ.get("EDGESR_JETSON_VENV_DIR", Path(tempfile.gettempdir()) / "edgesr-test-venvs"))


def run_step(cmd: list[str], what: str, where: str = "in the Jetson-like venv", timeout: float = 900) -> None:
    """Run one build step of a test venv; a failure is ``Unavailable`` naming the step and pip's last words."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise Unavailable(f"cannot {what} {where}: {out.stderr.strip()[-300:]}")


@functools.cache
def jetson_like_venv() -> Path:
    """The venv folder (``bin/python`` in it), or ``Unavailable`` with why not."""
    if not SYSTEM_PYTHON.exists():
        raise Unavailable(f"no system Python at {SYSTEM_PYTHON} (set EDGESR_SYSTEM_PYTHON)")
    venv = venv_dir()
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    ready = venv / ".edgesr-deps-ready"
    if not (ready.exists() and python.exists()):
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        run_step([str(SYSTEM_PYTHON), "-m", "venv", "--system-site-packages", str(venv)], "make a venv (python3-venv)")
        have = subprocess.run([str(python), "-c", "import numpy; print(numpy.__version__)"], capture_output=True,
                              text=True)
        constraints = venv / "constraints.txt"
        constraints.write_text(f"numpy=={have.stdout.strip()}\n" if have.returncode == 0 else "")
        run_step([*pip, "-c", str(constraints), *base_requirements()], "install edgesr's base dependencies (offline?)")
        ready.write_text("ok\n")
    install_checkout(pip, run_step)
    return venv


def install_checkout(pip: list[str], run: Callable[[list[str], str], None]) -> None:
    """Install this checkout's edgesr (not editable, as the README says) with ``pip``, from a copy (building in
    the checkout would leave build/ there); ``run`` runs a command and raises ``Unavailable`` on failure."""
    src = Path(tempfile.mkdtemp(prefix="edgesr-src-"))
    try:
        for part in ["edgesr", "train", "export", "runtime"]:
            shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        for part in ["pyproject.toml", "README.md"]:
            shutil.copy2(REPO / part, src / part)
        run([*pip, "--no-deps", "--no-build-isolation", "--force-reinstall", str(src)], "install edgesr")
    finally:
        shutil.rmtree(src, ignore_errors=True)


def jetson_like_rtsp_python() -> Path:
    """The Jetson-like venv's python where the system Python has GStreamer's RTSP server bindings and an H.264
    encoder, or ``Unavailable`` with the packages to install."""
    probe = system_python_runs(GST_RTSP_CHECK)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise Unavailable(f"system Python has no GStreamer RTSP server bindings ({last}): "
                          "apt install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly")
    return jetson_like_venv() / "bin" / "python"

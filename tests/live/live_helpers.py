"""Helpers and fixtures of the live tests (``conftest.py`` re-exports the fixtures): real servers on 127.0.0.1
only, real ``edgesr`` processes. A module of its own name, not ``conftest``: tests/conftest.py is imported by
that name too.

System pieces (Debian packages, see ``.ci/system-packages``) that are missing make the tests that need them
skip with the package to install. The RTSP camera runs under the SYSTEM Python (``/usr/bin/python3``),
which has PyGObject and gst-rtsp-server; the tests themselves run in the project's venv.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tinymodel
from jetson_like import SYSTEM_PYTHON, jetson_like_venv, system_python_runs

HERE = Path(__file__).resolve().parent


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gst_has(*elements: str) -> bool:
    tool = shutil.which("gst-inspect-1.0")
    return tool is not None and all(
        subprocess.run([tool, "--exists", e], capture_output=True).returncode == 0 for e in elements
    )


def need(ok: bool, what: str) -> None:
    if not ok:
        pytest.skip(f"{what} (as root, .ci/run installs it with apt-get)")


class RtspCamera:
    """gst-rtsp-server serving an H.264 test pattern at rtsp://127.0.0.1:PORT/cam, in its own process."""

    def __init__(self, port: int, size: str = "64x48", fps: int = 30) -> None:
        self.port, self.size, self.fps = port, size, fps
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> RtspCamera:
        cmd = [str(SYSTEM_PYTHON), str(HERE / "rtsp_server.py"), str(self.port), "--size", self.size,
               "--fps", str(self.fps)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # READY once it listens
        if line != "READY":
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"RTSP server did not start: {line!r} {err[-2000:]}")
        return self

    def wait_client(self, timeout: float = 30.0) -> None:
        """Block until a client connected (the server prints CLIENT)."""
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready and self.proc.stdout.readline().strip() == "CLIENT", "no client connected to the RTSP server"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="session")
def rtsp_ok() -> None:
    need(SYSTEM_PYTHON.exists(), "no /usr/bin/python3 to run the RTSP server")
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import GstRtspServer"], capture_output=True, text=True)
    need(probe.returncode == 0, "the system Python has no gst-rtsp-server (gir1.2-gst-rtsp-server-1.0, python3-gi)")
    need(gst_has("videotestsrc", "x264enc", "rtph264pay"), "GStreamer lacks x264enc (gstreamer1.0-plugins-ugly)")


@pytest.fixture
def rtsp_camera(rtsp_ok: None) -> Iterator[RtspCamera]:
    cam = RtspCamera(free_port()).start()
    yield cam
    cam.stop()


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny x4 FP32 edgesr ONNX: fast enough that the network, not the model, sets the pace."""
    return tinymodel.tiny_onnx(tmp_path_factory.mktemp("engine") / "tiny.onnx")


def edgesr(
    *args: Any, python: str | Path = sys.executable, timeout: float = 60, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``edgesr ARGS`` as a user runs it: its own process, real stdout/stderr (FFmpeg writes there too)."""
    env = {**os.environ, **kw.pop("env", {})}
    env.pop("EDGESR_DEBUG", None)
    return subprocess.run(_command(python, args), capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _command(python: str | Path, args: Any) -> list[str]:
    """The test's own Python: ``python -m edgesr``; another venv's: its ``edgesr`` script, as a user types it
    (and never the checkout's edgesr/ folder that ``-m`` would find first in the current directory)."""
    if str(python) == sys.executable:
        return [str(python), "-m", "edgesr", *map(str, args)]
    return [str(Path(python).parent / "edgesr"), *map(str, args)]


def start_edgesr(
    *args: Any, python: str | Path = sys.executable, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("EDGESR_DEBUG", None)
    return subprocess.Popen(_command(python, args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def mp4_frames(path: Path) -> tuple[int, tuple[int, int]]:
    """Decode a whole video with PyAV: (frame count, (H, W)); raises if it is not playable."""
    import av

    n, shape = 0, (0, 0)
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            n, shape = n + 1, (f.height, f.width)
    return n, shape


def wait_for(cond: Any, timeout: float, every: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(every)
    return False


# -- the Jetson-like install: Debian's Python + its OpenCV (with GStreamer) + edgesr's base, no torch ------------
@pytest.fixture(scope="session")
def jetson_venv() -> Path:
    """The Jetson recipe of docs/jetson.md (``edgesr.testing.jetson_like``), over Debian's python3-opencv."""
    probe = system_python_runs("import sys, cv2, numpy; print(sys.version_info >= (3, 10))")
    need(probe.returncode == 0, "the system Python has no OpenCV (python3-opencv)")
    need(probe.stdout.split()[0] == "True", "the system Python is older than 3.10, which edgesr needs")
    return jetson_like_venv()

"""Clients of the network outputs (``-o rtsp://``, ``-o http://``), for tests and benchmarks.

``Stream``: ``edgesr stream`` as a background process; ``served_url`` reads the address it prints.
``stalled_rtsp_client``: an RTSP client that plays and then never reads. ``find_chromium`` and ``screenshot``:
a headless-Chromium picture of a page.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edgesr.testing import Unavailable


class Stream:
    """A background ``edgesr stream``; ``stop()`` sends Ctrl-C (SIGINT) and waits for the report."""

    def __init__(self, python: Path | str, args: list[str], cwd: Path) -> None:
        self.err_path = cwd / f"stream-{time.monotonic_ns()}.err"
        self.err = self.err_path.open("w")
        self.proc = subprocess.Popen([str(python), "-m", "edgesr", "stream", *args, "--quiet"], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)

    def stderr(self) -> str:
        if not self.err.closed:
            self.err.flush()
        return self.err_path.read_text()

    def served_url(self, scheme: str, timeout: float = 60.0) -> str:
        """The URL the stream prints for ``scheme`` (e.g. 'RTSP: rtsp://localhost:41234/sr (...)')."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(rf"{scheme}://localhost:\d+\S*", self.stderr())
            if m:
                return m.group(0).replace("localhost", "127.0.0.1")
            if self.proc.poll() is not None:
                raise AssertionError(f"edgesr stream ended early ({self.proc.returncode}): {self.stderr()[-2000:]}")
            time.sleep(0.1)
        raise AssertionError(f"edgesr stream printed no {scheme}:// address in {timeout} s: {self.stderr()[-2000:]}")

    def stop(self, timeout: float = 60.0) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.err.close()
        return self.proc.returncode, out, self.err_path.read_text()

    def wait(self, timeout: float = 120.0) -> tuple[int, str, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()
        self.err.close()
        return self.proc.returncode, out, self.err_path.read_text()


def _rtsp_request(sock: socket.socket, method: str, url: str, cseq: int, headers: str = "") -> tuple[str, bytes]:
    sock.sendall(f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{headers}\r\n".encode())
    buf = b""
    while not buf.endswith(b"\r\n\r\n"):  # byte by byte: never read past the response into the RTP after PLAY
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"RTSP server closed the connection after {method}")
        buf += chunk
    text = buf[:-4].decode("latin-1")
    m = re.search(r"(?im)^content-length:\s*(\d+)", text)
    length = int(m.group(1)) if m else 0
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    if " 200 " not in text.splitlines()[0]:
        raise ConnectionError(f"RTSP {method} failed: {text.splitlines()[0]}")
    return text, body[:length]


def stalled_rtsp_client(url: str, rcvbuf: int = 4096) -> socket.socket:
    """Connect, DESCRIBE, SETUP (RTP over the RTSP TCP connection), PLAY, then never read again: the
    worst client a server can have. Returns the socket (close it to end the session)."""
    m = re.match(r"rtsp://([^:/]+):(\d+)(/.*)", url)
    assert m, url
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: a small TCP window
    sock.settimeout(30)
    sock.connect((m.group(1), int(m.group(2))))
    text, sdp = _rtsp_request(sock, "DESCRIBE", url, 1, "Accept: application/sdp\r\n")
    base = re.search(r"(?im)^content-base:\s*(\S+)", text)
    control = re.search(r"a=control:(\S+)", sdp.decode("latin-1").split("m=video", 1)[1])
    assert control, sdp
    track = control.group(1) if "://" in control.group(1) else (base.group(1) if base else url + "/") + control.group(1)
    text, _ = _rtsp_request(sock, "SETUP", track, 2, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
    session = re.search(r"(?im)^session:\s*([^;\r\n]+)", text)
    assert session, text
    _rtsp_request(sock, "PLAY", url, 3, f"Session: {session.group(1)}\r\nRange: npt=0.000-\r\n")
    return sock


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str:
    """Path of a Chromium/Chrome binary, or ``Unavailable`` with how to get one."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise Unavailable("no headless Chromium here: apt install chromium (listed in .ci/system-packages)")


def screenshot(browser: str, url: str, png: Path, size: tuple[int, int] = (1000, 460)) -> Path:
    """Headless Chromium renders ``url`` at 1 CSS px = 1 image px and saves a PNG screenshot of the window
    at the page's load event. (No ``--virtual-time-budget``: with a page that keeps loading frames it can
    wait forever; the live page is complete at its load event instead.)"""
    png.unlink(missing_ok=True)
    profile = tempfile.mkdtemp(prefix="edgesr-chromium-")
    try:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--no-first-run", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
             f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", url],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert png.exists(), f"chromium wrote no screenshot ({out.returncode}): {out.stderr[-1500:]}"
    return png

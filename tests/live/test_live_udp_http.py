"""``edgesr stream`` from the other network sources: MPEG-TS over UDP (fed by ffmpeg) and MJPEG over HTTP
(a multipart server in this process), all on 127.0.0.1."""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from live_helpers import edgesr, free_port, mp4_frames, need, one_line_error, report
from PIL import Image

pytestmark = pytest.mark.slow
QUIET = ["--check-every", "0", "-q"]


@pytest.fixture
def udp_feed() -> Iterator[str]:
    need(shutil.which("ffmpeg") is not None, "ffmpeg is not installed")
    port = free_port()
    url = f"udp://127.0.0.1:{port}"
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30",
           "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-f", "mpegts",
           f"{url}?pkt_size=1316"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    if proc.poll() is not None:
        pytest.fail(f"ffmpeg could not send MPEG-TS: {proc.stderr.read() if proc.stderr else ''}")
    yield url
    proc.kill()
    proc.wait(10)


def test_udp_mpegts_frames_arrive(udp_feed: str, engine: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    run = edgesr("stream", "-e", engine, "--source", udp_feed, "-o", out, "--max-frames", 20, *QUIET)
    assert run.returncode == 0, run.stderr
    rep = report(tmp_path / "out.report.json")
    assert rep["frames_out"] == 20 and rep["end_reason"] == "max frames reached (20)"
    assert mp4_frames(out) == (20, (192, 256))


class _Mjpeg(BaseHTTPRequestHandler):
    """multipart/x-mixed-replace JPEGs at about 30 fps on /cam.mjpg, like an IP camera's MJPEG URL."""

    jpegs: list[bytes] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/cam.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for i in range(100000):
                jpeg = self.jpegs[i % len(self.jpegs)]
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg))
                self.wfile.write(jpeg + b"\r\n")
                time.sleep(1 / 30)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mjpeg_server() -> Iterator[str]:
    jpegs = []
    for frame in tinymodel.test_frames(30, 48, 64):
        buf = io.BytesIO()
        Image.fromarray(np.asarray(frame)).save(buf, format="JPEG", quality=90)
        jpegs.append(buf.getvalue())
    _Mjpeg.jpegs = jpegs
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mjpeg)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_mjpeg_frames_arrive(mjpeg_server: str, engine: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    run = edgesr("stream", "-e", engine, "--source", f"{mjpeg_server}/cam.mjpg", "-o", out, "--max-frames", 20,
                 *QUIET)
    assert run.returncode == 0, run.stderr
    rep = report(tmp_path / "out.report.json")
    assert rep["frames_out"] == 20 and rep["live"] == {"reconnects": 0, "outages_s": []}
    assert mp4_frames(out) == (20, (192, 256))


def test_http_wrong_path_is_one_line(mjpeg_server: str, engine: Path) -> None:
    wrong = f"{mjpeg_server}/nope.mjpg"
    line = one_line_error(edgesr("stream", "-e", engine, "--source", wrong, "-o", "none", *QUIET))
    assert line.startswith(f"error: cannot open stream {wrong}: ") and "answers but gave no video" in line

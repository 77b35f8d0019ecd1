"""``edgesr stream`` against a real RTSP camera (gst-rtsp-server on 127.0.0.1): frames arrive, drops under load
are counted, a server that comes back within --reconnect is reconnected, one that does not ends the run
cleanly with the reason and a playable mp4, and a wrong address is a one-line error."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from live_helpers import RtspCamera, edgesr, free_port, mp4_frames, one_line_error, report, start_edgesr

pytestmark = pytest.mark.slow
QUIET = ["--check-every", "0", "-q"]


def test_rtsp_frames_arrive_upscaled(rtsp_camera: RtspCamera, engine: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    run = edgesr("stream", "-e", engine, "--source", rtsp_camera.url, "-o", out, "--max-frames", 30, *QUIET)
    assert run.returncode == 0, run.stderr
    rep = report(tmp_path / "out.report.json")
    assert rep["frames_out"] == 30 and rep["end_reason"] == "max frames reached (30)"
    assert rep["live"]["reconnects"] == 0
    assert mp4_frames(out) == (30, (192, 256))  # 64x48 camera, x4


def test_rtsp_drops_under_load_are_counted(rtsp_ok: None, engine: Path, tmp_path: Path) -> None:
    """A 320x240 60 fps camera outruns a x4 model on one core: the live source keeps the newest frame and
    counts every older one it replaced."""
    cam = RtspCamera(free_port(), size="320x240", fps=60).start()
    try:
        t0 = time.monotonic()
        run = edgesr("stream", "-e", engine, "--source", cam.url, "-o", "none", "--report", tmp_path / "r.json",
                     "--max-frames", 10, "--threads", 1, *QUIET)
        elapsed = time.monotonic() - t0
    finally:
        cam.stop()
    assert run.returncode == 0, run.stderr
    rep = report(tmp_path / "r.json")
    assert rep["frames_in"] == 10 and rep["frames_out"] == 10
    assert rep["dropped"] > 0, rep
    assert rep["frames_in"] + rep["dropped"] <= 60 * elapsed  # never more than the camera sent
    print(f"\nRTSP 320x240@60: {rep['frames_in']} frames processed, {rep['dropped']} dropped, {rep['fps']:.1f} fps")


def test_rtsp_server_back_within_reconnect(rtsp_camera: RtspCamera, engine: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = start_edgesr("stream", "-e", engine, "--source", rtsp_camera.url, "-o", out, "--reconnect", 8,
                        "--max-frames", 90, *QUIET)
    try:
        rtsp_camera.wait_client()
        time.sleep(2.0)
        rtsp_camera.kill(signal.SIGKILL)  # the camera dies mid-run...
        time.sleep(2.0)
        rtsp_camera.start()  # ...and comes back on the same address 2 s later
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    rep = report(tmp_path / "out.report.json")
    assert rep["frames_out"] == 90 and rep["end_reason"] == "max frames reached (90)", rep
    assert rep["live"]["reconnects"] == 1
    (outage,) = rep["live"]["outages_s"]
    assert 2.0 <= outage < 8.0
    assert "reconnected after" in err
    assert mp4_frames(out)[0] == 90
    print(f"\nRTSP reconnect: {outage:.1f} s without frames (server down 2.0 s), "
          f"{rep['frames_out']} frames delivered, {rep['dropped']} dropped")


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_rtsp_server_gone_for_good(rtsp_camera: RtspCamera, engine: Path, tmp_path: Path, how: str) -> None:
    """killed: the connection closes (reads fail at once); frozen (SIGSTOP): a network cut, the connection
    stays open and silent, so only edgesr's read/open timeouts notice."""
    out = tmp_path / "out.mp4"
    proc = start_edgesr("stream", "-e", engine, "--source", rtsp_camera.url, "-o", out, "--reconnect", 3, *QUIET)
    try:
        rtsp_camera.wait_client()
        time.sleep(2.5)  # the client connects, probes the stream (about 1 s), then frames flow
        rtsp_camera.kill(signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        cut = time.monotonic()
        _, err = proc.communicate(timeout=60)
        ended = time.monotonic() - cut
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    rep = report(tmp_path / "out.report.json")
    assert rep["end_reason"] == f"stream {rtsp_camera.url} lost: no frames for 3 s (retried with backoff)"
    assert rep["error"] is None and rep["live"]["reconnects"] == 0
    assert 2.5 <= ended < 9.0, ended  # --reconnect 3 (+ one open timeout of 1.5 s, + closing)
    frames, shape = mp4_frames(out)
    assert frames == rep["frames_out"] > 10 and shape == (192, 256)
    print(f"\nRTSP {how}: run ended {ended:.1f} s after the cut, {frames} frames in a playable mp4")


def test_rtsp_wrong_address_is_one_line(rtsp_camera: RtspCamera, engine: Path) -> None:
    wrong = rtsp_camera.url.replace("/cam", "/nope")
    line = one_line_error(edgesr("stream", "-e", engine, "--source", wrong, "-o", "none", *QUIET))
    assert line == (f"error: cannot open stream {wrong}: 127.0.0.1:{rtsp_camera.port} answers but gave no video "
                    "at this address (wrong path or credentials?)")
    closed = free_port()
    line = one_line_error(edgesr("stream", "-e", engine, "--source", f"rtsp://127.0.0.1:{closed}/cam", "-o", "none"))
    assert f"cannot connect to 127.0.0.1:{closed} (Connection refused)" in line

"""Issue 22: three RTSP cameras on loopback into one engine; one camera is killed mid-run: the other two
deliver all their frames, the dead one is retried, then ends alone with its reason."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from live_helpers import RtspCamera, free_port, mp4_frames, report, start_edgesr

pytestmark = pytest.mark.slow


def test_three_rtsp_cameras_one_killed(rtsp_ok: None, engine: Path, tmp_path: Path) -> None:
    cams = [RtspCamera(free_port()).start() for _ in range(3)]
    try:
        args = [a for c in cams for a in ("--source", c.url)]
        proc = start_edgesr("stream", "-e", engine, *args, "-o", tmp_path / "cam{i}.mp4", "--reconnect", 2,
                            "--max-frames", 150, "--check-every", 0, "-q")
        try:
            for c in cams:
                c.wait_client()
            time.sleep(2.5)  # the clients probe the streams (about 1 s), then frames flow
            cams[1].kill(signal.SIGKILL)
            cut = time.monotonic()
            _, err = proc.communicate(timeout=90)
            ended = time.monotonic() - cut
        finally:
            proc.kill()
    finally:
        for c in cams:
            c.stop()
    assert proc.returncode == 0, err
    rep = report(tmp_path / "cam0.report.json")
    s0, s1, s2 = rep["streams"]
    for s in (s0, s2):  # the living cameras: every frame taken was written, to the end (--max-frames)
        assert s["frames_in"] == s["frames_out"] == 150 and s["ended"] == "max frames reached (150)", s
    assert s1["ended"] == f"stream {cams[1].url} lost: no frames for 2 s (retried with backoff)", s1
    assert 0 < s1["frames_out"] == s1["frames_in"] < 150
    assert rep["end_reason"] == "every stream ended" and rep["error"] is None
    assert rep["batches"]["max"] >= 2  # the cameras share engine calls
    for i, s in enumerate((s0, s1, s2)):
        assert mp4_frames(tmp_path / f"cam{i}.mp4") == (s["frames_out"], (192, 256))  # playable, each its own
    print(f"\n3 RTSP cameras, #1 killed: {s0['frames_out']}/{s1['frames_out']}/{s2['frames_out']} frames; "
          f"run ended {ended:.1f} s after the kill; batches {rep['batches']}")

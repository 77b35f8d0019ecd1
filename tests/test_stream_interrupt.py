"""Must-show 4: Ctrl-C (SIGINT) in the middle of a file-to-mp4 run leaves a playable file and a report."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesr.spec import edge_xs

import tinymodel


@pytest.mark.slow
def _partial(folder: Path) -> Path | None:
    """This run's partial video (``out.partial-<pid>-<random>.mp4``), if there is one."""
    found = sorted(folder.glob("out.partial-*.mp4"))
    return found[0] if found else None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_a_playable_video_and_a_report(tmp_path: Path, sig: signal.Signals) -> None:
    import av

    video = tinymodel.write_video(tmp_path / "long.mp4", tinymodel.test_frames(600, 48, 64), audio=True)
    model = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))  # a few fps here: 600 frames take minutes
    out, report = tmp_path / "out.mp4", tmp_path / "out.report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesr", "stream", "--engine", str(model), "--video", str(video), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ((partial := _partial(tmp_path)) and partial.stat().st_size > 0):  # the encoder has muxed frames
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the stream never started writing"
            time.sleep(0.05)
        time.sleep(1.0)  # well into the run
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), stderr[-2000:]
    data = json.loads(report.read_text())
    name = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert data["end_reason"] == f"interrupted ({name})" and data["error"] is None
    assert 0 < data["frames_out"] == data["frames_in"] < 600  # stopped early; nothing read was lost
    assert out.is_file() and not partial.exists() and _partial(tmp_path) is None
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(out)) as c:
        audio = [p for p in c.demux(audio=0) if p.size]
        duration = float(audio[-1].pts * audio[-1].time_base)
    assert frames == data["frames_out"]
    assert duration <= frames / 30 + 0.2  # audio cut where the video stops
    assert "interrupted" in stdout


@pytest.mark.slow
def test_fragmented_mp4_survives_a_hard_kill(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: a fragmented .mp4 (default for live sources) still plays up to the last
    fragment (a keyframe at least every 2 s, fragments flushed to disk as they end), and the real name is
    never a broken file."""
    import av

    video = tinymodel.write_video(tmp_path / "long.mp4", tinymodel.test_frames(3000, 16, 16), audio=False)
    model = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))  # slow enough to be killed mid-run
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesr", "stream", "--engine", str(model), "--video", str(video), "-o", str(out),
         "--fragmented", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ((partial := _partial(tmp_path)) and partial.read_bytes().count(b"moof") >= 2):  # two fragments
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the stream never wrote a fragment"
            time.sleep(0.02)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    frames, errors = 0, 0
    with av.open(str(partial)) as c:  # as a player does: the torn last fragment may not decode
        for packet in c.demux(video=0):
            try:
                frames += len(packet.decode())
            except av.error.InvalidDataError:
                errors += 1
    assert frames >= 10 and errors <= 1  # whole fragments play; only a torn last one may not

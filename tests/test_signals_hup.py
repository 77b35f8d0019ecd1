"""SIGHUP (the ssh session to the device dropped) ends ``stream`` and ``train`` as cleanly as SIGTERM: the
stream finalises a playable mp4 and its report, training writes ``last.pt``; exit 129. The terminal is a
real pseudo-terminal that is gone when the signal comes (writes to it would fail), as after an ssh drop."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tinymodel
from test_reliability_signals import _setup

from edgesr.spec import edge_xs

pytestmark = pytest.mark.slow


def _on_a_terminal(args: list[str], log: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``edgesr`` with stdout on a pseudo-terminal (the master end returned) and stderr in ``log``."""
    master, slave = pty.openpty()
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edgesr", *args], stdout=slave, stderr=err, env=env)
    os.close(slave)
    return proc, master


def _hang_up(proc: subprocess.Popen[bytes], master: os.PathLike[str] | int) -> None:
    os.close(int(master))  # the terminal goes away ...
    proc.send_signal(signal.SIGHUP)  # ... and the session's processes get SIGHUP


def test_sighup_finalises_the_stream_and_its_report(tmp_path: Path) -> None:
    import av

    video = tinymodel.write_video(tmp_path / "long.mp4", tinymodel.test_frames(600, 48, 64), audio=False)
    model = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))
    out, report = tmp_path / "out.mp4", tmp_path / "out.report.json"
    proc, master = _on_a_terminal(["stream", "--engine", str(model), "--video", str(video), "-o", str(out)],
                                  tmp_path / "err.txt", {**os.environ, "COLUMNS": "120"})
    try:
        deadline = time.monotonic() + 120
        while not [p for p in tmp_path.glob("out.partial-*.mp4") if p.stat().st_size > 0]:
            assert proc.poll() is None, (tmp_path / "err.txt").read_text()[-2000:]
            assert time.monotonic() < deadline, "the stream never started writing"
            time.sleep(0.05)
        time.sleep(1.0)
        _hang_up(proc, master)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "err.txt").read_text()
    assert proc.returncode == 129, err[-2000:]
    data = json.loads(report.read_text())
    assert data["end_reason"] == "interrupted (SIGHUP)" and data["error"] is None
    assert 0 < data["frames_out"] == data["frames_in"] < 600
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == data["frames_out"]
    assert not list(tmp_path.glob("out.partial-*")) and "Traceback" not in err


def test_sighup_makes_train_write_last_pt(tmp_path: Path) -> None:
    args, ready, last_pt, _ = _setup("train", tmp_path)
    log = tmp_path / "log.txt"
    proc, master = _on_a_terminal(args, log, {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "out" / "run" / "metrics.jsonl").exists():
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "train never got going"
            time.sleep(0.05)
        time.sleep(1.0)
        _hang_up(proc, master)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert proc.returncode == 129, text[-2000:]
    assert last_pt.is_file() and "Traceback" not in text

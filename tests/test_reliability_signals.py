"""Issue 9, class 6: SIGTERM ends every command with 143 and SIGINT with 130, after the same cleanup: one line
saying what was kept, no temp file (beside the output or in $TMPDIR), no half-written output.

Real processes, real signals, sent once the command is doing its work. A new command is covered by adding a
line to CASES."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import SMALL_PROFILE, tiny_checkpoint
from train_helpers import TINY, cli_args, image_folder

from edgesr.imageops import save_image
from edgesr.spec import edge_xs

pytestmark = pytest.mark.slow

TEMP_MARKERS = (".tmp", ".partial", ".edgesr-probe", "edgesr-build-")


def _torch_loaded(pid: int) -> bool:
    try:
        return "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _setup(command: str, d: Path) -> tuple[list[str], Callable[[subprocess.Popen[str], str], bool], Path, str]:
    """(arguments, ready(proc, output so far), output path, the line's command name) for one command."""
    out = d / "out"
    out.mkdir()
    if command == "export":
        sizes = [a for s in ("256x256", "320x320", "384x384", "448x448", "512x512") for a in ("--parity-size", s)]
        args = ["export", str(tiny_checkpoint(d / "g.pt")), "-o", str(out / "g.onnx"), *sizes]
        return args, lambda p, log: any(".tmp" in f.name for f in out.iterdir()), out / "g.onnx", "export"
    if command == "build-engine":
        onnx = tinymodel.srresnet_onnx(d / "xs.onnx", edge_xs(4))
        args = ["build-engine", str(onnx), "-o", str(out / "m.ort.onnx"), "--backend", "onnxruntime", "--int8",
                "--calib-images", "400", *SMALL_PROFILE]
        return args, lambda p, log: "->" in log, out / "m.ort.onnx", "build-engine"
    if command == "upscale":
        img = d / "big.png"
        save_image(img, np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8))
        args = ["upscale", str(img), "-o", str(out / "sr.png"), "-c", str(tiny_checkpoint(d / "g.pt")), "--tile", "16"]
        return args, lambda p, log: _torch_loaded(p.pid), out / "sr.png", "upscale"
    if command == "train":
        data = image_folder(d / "data")
        args = ["train", "--out", str(out / "run"), "--data", str(data), *cli_args({**TINY, "steps": 100000})]
        return args, lambda p, log: "step 1 " in log, out / "run" / "last.pt", "train"
    raise AssertionError(command)


CASES = [
    ("export", signal.SIGTERM), ("export", signal.SIGINT),
    ("build-engine", signal.SIGTERM), ("build-engine", signal.SIGINT),
    ("upscale", signal.SIGTERM),
    ("train", signal.SIGTERM),
]


@pytest.mark.parametrize("command,sig", CASES, ids=[f"{c}-{s.name}" for c, s in CASES])
def test_signal_exit_code_message_and_no_temp_files(tmp_path: Path, command: str, sig: signal.Signals) -> None:
    args, ready, output, name = _setup(command, tmp_path)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmpdir), "COLUMNS": "200"}
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "edgesr", *args], stdout=f, stderr=subprocess.STDOUT,
                                text=True, env=env)
    try:
        deadline = time.monotonic() + 240
        while not ready(proc, log.read_text()):
            assert proc.poll() is None, f"{command} ended before it could be interrupted:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"{command} never got going:\n{log.read_text()[-2000:]}"
            time.sleep(0.02)
        if command == "upscale":
            time.sleep(2.0)  # well into the tiles
        proc.send_signal(sig)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), text[-2000:]
    assert "Traceback" not in text, text[-3000:]
    left = [p.name for p in (*tmp_path.rglob("*"),) if any(m in p.name for m in TEMP_MARKERS)]
    assert left == [], left
    who = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
    if command == "train":  # training saves where it stopped and says how to resume
        assert "stopped at step" in text and "--resume" in text and output.is_file()
        return
    lines = [ln for ln in text.splitlines() if "interrupted" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"{name} interrupted ({who})"), text[-2000:]
    assert "nothing was written" in lines[0] and not output.exists(), lines[0]

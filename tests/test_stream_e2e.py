"""Must-show 1: a real 60-frame video with an audio track, streamed through an ONNX Runtime engine built
by `edgesr build-engine`, checked against an independent offline computation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesr.imageops import from_nchw, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner

import tinymodel

EDGESR = [sys.executable, "-m", "edgesr"]


def build_ort_engine(tmp: Path, fp32_onnx: Path) -> Path:
    """An FP16 ONNX Runtime engine (+ sidecar, gate report, FP32 reference beside it) from `edgesr build-engine`."""
    engine = tmp / "engine" / "model.engine"
    out = subprocess.run(
        [*EDGESR, "build-engine", str(fp32_onnx), "--fp16", "--backend", "onnxruntime", "-o", str(engine)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return engine


def _decode(path: Path) -> tuple[list[np.ndarray], int, object]:
    import av

    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = sum(1 for p in c.demux(audio=0) if p.size) if c.streams.audio else 0
    return frames, audio, rate


@pytest.mark.slow
def test_video_through_built_engine_end_to_end(tmp_path: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(60, 48, 64), fps=30, audio=True)
    fp32 = tinymodel.tiny_onnx(tmp_path / "model.onnx")
    engine = build_ort_engine(tmp_path, fp32)
    report_path = tmp_path / "report.json"
    out = subprocess.run(
        [*EDGESR, "stream", "--engine", str(engine), "--video", str(video), "--output", str(tmp_path / "out.mp4"),
         "--check-every", "10", "--min-psnr", "30", "--report", str(report_path), "--quiet"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(report_path.read_text())

    src_frames, src_audio, src_rate = _decode(video)
    out_frames, out_audio, out_rate = _decode(tmp_path / "out.mp4")
    assert len(src_frames) == 60
    assert report["frames_in"] == report["frames_out"] == len(out_frames) == 60
    assert report["dropped"] == report["skipped"] == 0 and report["end_reason"] == "end of input"
    assert out_frames[0].shape == (48 * 4, 64 * 4, 3)
    assert report["input_hw"] == [48, 64] and report["output_hw"] == [192, 256]
    assert out_rate == src_rate == 30
    assert out_audio == src_audio > 0  # every audio packet carried over

    # PSNR checks == an independent offline computation on the same decoded frames
    checks = {v["frame"]: v["psnr_db"] for v in report["psnr"]["values"]}
    assert sorted(checks) == [0, 10, 20, 30, 40, 50]
    eng = open_runner(engine)
    ref = open_runner(fp32)
    for k, value in checks.items():
        x = to_nchw(src_frames[k])
        expected = rgb_psnr(from_nchw(eng.infer(x))[0], from_nchw(ref.infer(x))[0])
        assert value == pytest.approx(expected, abs=1e-6), k
    assert report["psnr"]["skipped_reference_busy"] == 0 and report["psnr"]["below_min_psnr"] == 0
    assert report["engine_description"].startswith("onnxruntime fp16") and report["checks"].endswith("model.fp32.onnx")
    assert all(50 < v < 200 for v in checks.values())  # FP16 differs from FP32, a little
    # the written video is the engine's output (lossy H.264 aside)
    first = from_nchw(eng.infer(to_nchw(src_frames[0])))[0]
    assert rgb_psnr(out_frames[0], first) > 25
    assert "60 of 60 frames" in out.stdout

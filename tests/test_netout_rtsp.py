"""``-o rtsp://``: GStreamer's RTSP server inside ``edgesr stream``, run as on a Jetson (system Python
with ``gi``, see ``netout_env.jetson_like_python``); the clients are PyAV (FFmpeg) in the project venv,
on loopback. Skipped with the reason where GStreamer's RTSP server bindings are missing."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from netout_env import Stream, jetson_like_python, stalled_rtsp_client

from edgesr.imageops import load_image
from edgesr.metrics import rgb_psnr

pytestmark = pytest.mark.slow
X264_CRF = 20  # runtime.sink_rtsp.X264_CRF: the quality the stream promises


@pytest.fixture(scope="module")
def jpython() -> Path:
    return jetson_like_python()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("engine")
    fp32 = tinymodel.tiny_onnx(d / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(d / "fp16.onnx", fp16_weights=True)
    return tinymodel.ort_engine(d / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")


class Reader(threading.Thread):
    """An RTSP client (PyAV/FFmpeg, RTP over TCP) decoding frames until told to stop or ``limit`` frames."""

    def __init__(self, url: str, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.limit = url, limit
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        import av

        try:
            with av.open(self.url, options={"rtsp_transport": "tcp"}, timeout=30) as c:
                for f in c.decode(video=0):
                    self.times.append(time.monotonic())
                    if self.limit is not None:
                        self.frames.append(f.to_ndarray(format="rgb24"))
                    if self.stop.is_set() or (self.limit is not None and len(self.frames) >= self.limit):
                        return
        except BaseException as exc:
            self.error = exc

    def count_between(self, t0: float, t1: float) -> int:
        return sum(1 for t in list(self.times) if t0 <= t < t1)


def smooth_frames(n: int, height: int, width: int) -> list[np.ndarray]:
    """Moving gradients and a moving square, no noise: video-like content whose frames all differ."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        img = np.stack([128 + 100 * np.sin(xx / 9.0 + i * 0.15), 128 + 100 * np.cos(yy / 7.0 - i * 0.1),
                        128 + 100 * np.sin((xx + yy) / 11.0 + i * 0.05)], axis=-1)
        y0, x0 = (i // 2) % (height - 12), (i // 3) % (width - 12)
        img[y0 : y0 + 12, x0 : x0 + 12] = (240, 30, 30)
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return frames


def x264_reference_psnr(frames: list[np.ndarray]) -> list[float]:
    """The encoder's quality on these frames: libx264 with the stream's settings, decoded, PSNR per frame."""
    import tempfile

    import av

    with tempfile.TemporaryDirectory() as tmp:
        options = {"crf": str(X264_CRF), "preset": "ultrafast", "tune": "zerolatency"}
        ref = tinymodel.write_video(Path(tmp) / "ref.mp4", frames, audio=False, encoder_options=options)
        with av.open(str(ref)) as c:
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return [rgb_psnr(d, f) for d, f in zip(decoded, frames, strict=True)]


def test_rtsp_clients_get_the_written_frames(tmp_path: Path, jpython: Path, engine: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", smooth_frames(300, 48, 64), fps=30, audio=False)
    frames_dir = tmp_path / "frames"
    stream = Stream(jpython, ["--engine", str(engine), "--video", str(video), "--realtime", "--check-every", "30",
                              "-o", "rtsp://127.0.0.1:0/sr", "-o", str(frames_dir), "-o", str(tmp_path / "rec.mp4")],
                    tmp_path)
    try:
        url = stream.served_url("rtsp")
        encoder = re.search(r"H\.264 by (\w+)", stream.stderr())
        assert encoder and encoder.group(1) in ("x264enc", "nvv4l2h264enc")
        readers = [Reader(url, limit=60), Reader(url, limit=60)]  # several clients at once
        for r in readers:
            r.start()
        for r in readers:
            r.join(timeout=60)
    finally:
        code, _, err = stream.wait(timeout=120)
    assert code == 0, err[-2000:]
    for r in readers:
        assert r.error is None and len(r.frames) == 60, r.error
        assert all(f.shape == (192, 256, 3) for f in r.frames)  # the engine's x4 output of 48x64
    written = [load_image(p) for p in sorted(frames_dir.glob("*.png"))]
    assert len(written) == 300
    import av

    with av.open(str(tmp_path / "rec.mp4")) as c:  # recorded while serving: every frame
        assert sum(1 for _ in c.decode(video=0)) == 300
    reference = x264_reference_psnr(written)  # the tiny model's output is grainy: H.264 keeps ~24 dB of it
    matched = []
    for decoded in readers[0].frames[-10:]:
        scores = sorted(((rgb_psnr(decoded, w), i) for i, w in enumerate(written)), reverse=True)
        (best, index), (second, _) = scores[0], scores[1]
        assert best > second + 0.5  # it is that written frame, not a neighbour
        matched.append(index)
        if encoder.group(1) == "x264enc":
            assert best >= reference[index] - 1.0, (best, reference[index])
        else:
            assert best >= 20.0
    assert matched == sorted(matched) and len(set(matched)) == len(matched)  # in order, each once


def _frames_out(base: str) -> tuple[int, float]:
    with urllib.request.urlopen(base + "stats.json", timeout=30) as r:
        return json.loads(r.read())["frames_out"], time.monotonic()


def window_fps(base: str, seconds: float) -> float:
    n0, t0 = _frames_out(base)
    time.sleep(seconds)
    n1, t1 = _frames_out(base)
    return (n1 - n0) / (t1 - t0)


def test_a_client_that_never_reads_does_not_slow_the_stream(tmp_path: Path, jpython: Path, engine: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(1800, 48, 64), fps=120, audio=False)
    stream = Stream(jpython, ["--engine", str(engine), "--video", str(video), "--realtime", "--check-every", "0",
                              "-o", "rtsp://127.0.0.1:0/sr", "-o", "http://127.0.0.1:0"], tmp_path)
    stalled: socket.socket | None = None
    try:
        url, base = stream.served_url("rtsp"), stream.served_url("http")
        reader = Reader(url)
        reader.start()
        deadline = time.monotonic() + 30
        while len(reader.times) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(reader.times) >= 10, reader.error
        t0 = time.monotonic()
        fps_reader_only = window_fps(base, 3.0)
        got_before = reader.count_between(t0, time.monotonic())
        stalled = stalled_rtsp_client(url)
        time.sleep(1.0)  # its socket buffers are full by now
        t1 = time.monotonic()
        fps_with_stalled = window_fps(base, 3.0)
        got_during = reader.count_between(t1, time.monotonic())
        assert stalled.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"$"  # RTP was sent to it, unread
        reader.stop.set()
    finally:
        if stalled is not None:
            stalled.close()
        code, _, err = stream.wait(timeout=120)
    assert code == 0, err[-2000:]
    print(f"fps with a reading client {fps_reader_only:.1f}, plus a stalled client {fps_with_stalled:.1f}; "
          f"the reading client got {got_before} then {got_during} frames")
    assert fps_with_stalled >= 0.5 * fps_reader_only
    assert got_during >= 0.5 * got_before  # the other client keeps getting frames

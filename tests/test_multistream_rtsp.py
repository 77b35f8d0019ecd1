"""Issue 22: ``-o rtsp://127.0.0.1:PORT/cam{i}``: three streams served as three mounts of ONE RTSP server on one
port (``runtime.rtsp_server``), each read by a real client (PyAV/FFmpeg) that gets its own stream's frames at its
own size, and ``--auth`` guards every mount. ``edgesr stream`` runs as on a Jetson
(``netout_env.jetson_like_python``); skipped with the reason where GStreamer's RTSP server bindings are missing."""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import cli, one_line_error

from edgesr.imageops import from_nchw, save_image, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner

SIZES = [(48, 64), (48, 64), (32, 48)]  # two streams batch together, the third has its own shape


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_frames(url: str, n: int, out: list[np.ndarray], errors: list[BaseException]) -> None:
    import av

    try:
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=30) as c:
            for f in c.decode(video=0):
                out.append(f.to_ndarray(format="rgb24"))
                if len(out) >= n:
                    return
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.slow
def test_three_streams_as_mounts_of_one_rtsp_server(tmp_path: Path) -> None:
    from netout_env import Stream, jetson_like_python

    python = jetson_like_python()
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    stills = [tinymodel.test_frames(1, h, w, seed=11 + k)[0] for k, (h, w) in enumerate(SIZES)]
    for k, lr in enumerate(stills):
        lr[..., k] = 255 - lr[..., k]  # each stream its own colour cast
    folders = []
    for k, lr in enumerate(stills):  # one still scene per stream, many frames: a stream is told by its picture
        folder = tmp_path / f"cam{k}"
        folder.mkdir()
        save_image(folder / "f00000.png", lr)
        for i in range(1, 3000):
            os.link(folder / "f00000.png", folder / f"f{i:05d}.png")
        folders.append(folder)
    with open_runner(model) as eng:
        expected = [from_nchw(eng.infer(to_nchw(lr)))[0] for lr in stills]
    port = free_port()
    args = ["--engine", str(model), *[a for f in folders for a in ("--source", str(f))], "--check-every", "0",
            "-o", f"rtsp://127.0.0.1:{port}/cam{{i}}", "--threads", "1", "--auth", "viewer:s3cret-pass"]
    stream = Stream(python, args, tmp_path)
    try:
        stream.served_url("rtsp")
        urls = []
        for _ in range(600):  # the three notes are printed as the mounts open
            urls = re.findall(r"rtsp://localhost:\d+/cam\d", stream.stderr())
            if len(urls) == 3:
                break
            threading.Event().wait(0.1)
        assert sorted(urls) == [f"rtsp://localhost:{port}/cam{k}" for k in range(3)], stream.stderr()[-2000:]
        import av

        for k in range(3):  # --auth guards every mount
            with pytest.raises(av.error.HTTPUnauthorizedError):
                av.open(f"rtsp://127.0.0.1:{port}/cam{k}", options={"rtsp_transport": "tcp"}, timeout=30)
        got: list[list[np.ndarray]] = [[], [], []]
        errors: list[BaseException] = []
        urls = [f"rtsp://viewer:s3cret-pass@127.0.0.1:{port}/cam{k}" for k in range(3)]
        readers = [threading.Thread(target=read_frames, args=(u, 10, g, errors), daemon=True)
                   for u, g in zip(urls, got, strict=True)]
        for r in readers:
            r.start()
        for r in readers:
            r.join(timeout=90)
    finally:
        code, _, err = stream.stop()
    assert code == 130, err[-2000:]
    assert not errors, errors
    for k, (h, w) in enumerate(SIZES):
        assert len(got[k]) == 10 and all(f.shape == (4 * h, 4 * w, 3) for f in got[k]), (k, len(got[k]))
    for k in (0, 1):  # same size: each mount carries its own stream, not the other one
        own = rgb_psnr(got[k][-1], expected[k])
        assert own > rgb_psnr(got[k][-1], expected[1 - k]) + 6.0, (k, own)


def test_two_streams_on_one_mount_path_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    folders = []
    for sub in ("p", "q"):  # both streams are named "a": rtsp://:PORT/{name} gives one path twice
        folder = tmp_path / sub / "a"
        save_image(folder / "0000.png", tinymodel.test_frames(1, 16, 16)[0])
        folders.append(folder)
    code, _, err = cli(capsys, "stream", "-e", str(model), *[a for f in folders for a in ("--source", str(f))],
                       "-o", "rtsp://:18554/{name}", "-q")
    assert code == 2 and "--output rtsp://:18554/a is given twice" in one_line_error(err)

"""``-o http://:PORT``: the live view served by the stream itself (standard library only, so it runs in
the project venv): the page, the newest frame as JPEG (equal to the frame written to a parallel
``-o DIR``), the side-by-side view, MJPEG, and the figures JSON agreeing with the final report."""

from __future__ import annotations

import io
import json
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from netout_env import Stream, project_python
from PIL import Image

from edgesr.imageops import load_image, upscale_bicubic
from edgesr.metrics import rgb_psnr
from edgesr.runtime.liveview import encode_jpeg


def get(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read(), dict(r.headers)


def jpeg(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("media")
    fp32 = tinymodel.tiny_onnx(d / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(d / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(d / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")
    video = tinymodel.write_video(d / "in.mp4", tinymodel.test_frames(240, 48, 64), fps=30, audio=False)
    return engine, video


@pytest.mark.slow
def test_live_view_serves_the_written_frames_and_figures(tmp_path: Path, media: tuple[Path, Path]) -> None:
    engine, video = media
    frames_dir = tmp_path / "frames"
    stream = Stream(project_python(), ["--engine", str(engine), "--video", str(video), "--realtime",
                                       "-o", "http://:0", "-o", str(frames_dir), "--check-every", "10",
                                       "--min-psnr", "200", "--report", str(tmp_path / "r.json")], tmp_path)
    stalled = socket.socket()
    try:
        base = stream.served_url("http")
        assert "loopback only" in stream.stderr()
        # a viewer that asks for MJPEG and never reads: it must cost the stream nothing
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", int(base.rsplit(":", 1)[1].strip("/"))))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        page, headers = get(base)
        assert headers["Content-Type"].startswith("text/html") and b'id="psnr"' in page and b"/stats.json" in page

        # the newest frame, as JPEG, is the frame written to the folder (same index), up to JPEG loss
        data, headers = get(base + "frame.jpg")
        index = int(headers["X-Frame-Index"])
        served = jpeg(data)
        deadline = time.monotonic() + 30
        while not (frames_dir / f"{index:06d}.png").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        written = load_image(frames_dir / f"{index:06d}.png")
        assert served.shape == written.shape == (192, 256, 3)  # x4 of 48x64
        assert np.array_equal(served, jpeg(encode_jpeg(written)))  # exactly that frame, JPEG-encoded

        # side by side: left half is the bicubic upscale of the input frame, right half the SR frame
        data, headers = get(base + "frame.jpg?view=compare")
        both, index = jpeg(data), int(headers["X-Frame-Index"])
        assert both.shape == (192, 512, 3)
        lr = tinymodel.test_frames(240, 48, 64)[index]
        assert rgb_psnr(both[:, :256], upscale_bicubic(lr, 4)) > 25.0  # the input went through H.264 once
        while not (frames_dir / f"{index:06d}.png").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        sr = load_image(frames_dir / f"{index:06d}.png")
        assert rgb_psnr(both[:, 256:], sr) > rgb_psnr(jpeg(encode_jpeg(sr, quality=50)), sr)

        # MJPEG: consecutive parts are JPEGs of newer and newer frames
        indices = []
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1].strip("/"))), timeout=30) as s:
            s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buf = b""
            while len(indices) < 3:
                chunk = s.recv(65536)
                assert chunk, f"the server closed the MJPEG stream: {buf[:200]!r}"
                buf += chunk
                while b"X-Frame-Index: " in buf and b"\r\n\r\n" in buf.split(b"X-Frame-Index: ", 1)[1]:
                    head, rest = buf.split(b"X-Frame-Index: ", 1)
                    num, rest = rest.split(b"\r\n\r\n", 1)
                    length = int(head.rsplit(b"Content-Length: ", 1)[1].split(b"\r\n")[0])
                    if len(rest) < length:
                        break
                    assert jpeg(rest[:length]).shape == (192, 256, 3)
                    indices.append(int(num))
                    buf = rest[length:]
        assert indices == sorted(indices) and len(set(indices)) == len(indices)

        time.sleep(1.5)  # a few checks have run
        figures = json.loads(get(base + "stats.json")[0])
        assert figures["psnr"]["checks"] >= 1 and figures["state"] == "below_min"  # nothing reaches 200 dB
        assert figures["min_psnr"] == 200 and figures["output_hw"] == [192, 256] and figures["viewers"] == 1
        assert set(figures["latency_ms"]) >= {"capture", "infer", "write", "end_to_end"}
    finally:
        code, _, err = stream.wait(timeout=120)
        stalled.close()
    assert code == 0, err[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_out"] == 240 and len(list(frames_dir.glob("*.png"))) == 240
    assert report["fps"] > 15  # the file plays at 30 fps (--realtime) despite the viewer that never reads
    final = {c["frame"]: c["psnr_db"] for c in report["psnr"]["values"]}
    live = {c["frame"]: c["psnr_db"] for c in figures["psnr"]["values"]}
    assert live and all(final[f] == v for f, v in live.items())  # the live figures are the report's

"""Pieces of the network outputs that need no server: encoder choice, GStreamer's RGB row layout,
URL parsing, ``--realtime`` pacing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tinymodel

from edgesr.errors import MissingDependencyError, UsageError
from edgesr.runtime.outputs import parse_address
from edgesr.runtime.pacing import PacedSource
from edgesr.runtime.sink_rtsp import launch_line, pick_encoder, rgb_bytes
from edgesr.runtime.sources import open_source


def test_encoder_prefers_the_jetson_hardware_encoder() -> None:
    assert pick_encoder(lambda n: True) == "nvv4l2h264enc"
    assert pick_encoder(lambda n: n == "x264enc") == "x264enc"
    assert pick_encoder(lambda n: True, forced="x264enc") == "x264enc"
    with pytest.raises(MissingDependencyError, match="gstreamer1.0-plugins-ugly"):
        pick_encoder(lambda n: False)
    assert "appsrc name=src" in launch_line("x264enc") and "leaky=downstream" in launch_line("x264enc")


@pytest.mark.parametrize(("h", "w"), [(4, 8), (3, 5), (6, 6), (2, 2)])
def test_rgb_rows_are_laid_out_as_gstreamer_expects(h: int, w: int) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    eh, ew = h + h % 2, w + w % 2
    data = np.frombuffer(rgb_bytes(img, (eh, ew)), dtype=np.uint8)
    stride = (ew * 3 + 3) // 4 * 4  # GStreamer's default RGB stride: rows rounded up to 4 bytes
    assert data.size == eh * stride
    rows = data.reshape(eh, stride)[:, : ew * 3].reshape(eh, ew, 3)
    assert np.array_equal(rows[:h, :w], img)
    assert np.array_equal(rows[eh - 1, :w], img[h - 1])  # odd sizes: the edge row is repeated


def test_addresses() -> None:
    a = parse_address("rtsp://:8554/sr", None)
    assert (a.host, a.port, a.path, a.loopback_only) == ("127.0.0.1", 8554, "/sr", True)
    b = parse_address("http://:8080", "0.0.0.0")
    assert (b.host, b.port, b.loopback_only) == ("0.0.0.0", 8080, False)
    assert parse_address("rtsp://10.0.0.5:554/cam/hd", None).path == "/cam/hd"
    with pytest.raises(UsageError):
        parse_address("http://:8080/?x=1", None)


def test_realtime_reads_a_file_at_its_frame_rate(tmp_path: Path) -> None:
    video = tinymodel.write_video(tmp_path / "v.mp4", tinymodel.test_frames(16, 16, 16), fps=30, audio=False)
    with open_source(str(video)) as raw:
        t0 = time.perf_counter()
        n_raw = sum(1 for _ in iter(raw.read, None))
        fast = time.perf_counter() - t0
    with open_source(str(video)) as inner:
        paced = PacedSource(inner)
        t0 = time.perf_counter()
        frames = list(iter(paced.read, None))
        slow = time.perf_counter() - t0
    assert n_raw == len(frames) == 16 and [f.index for f in frames] == list(range(16))
    assert slow >= 15 / 30 - 0.01  # the 16th frame is due 0.5 s after the first
    assert paced.end_reason == inner.end_reason and paced.rate == inner.rate
    print(f"read without pacing {fast:.3f} s, paced {slow:.3f} s")

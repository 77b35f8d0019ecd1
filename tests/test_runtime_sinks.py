"""Sinks: H.264 .mp4 that decodes, at the source's rate, with the source's audio; PNG folders; clear
errors for unwritable paths and missing displays, before any frame is processed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import tinymodel

from edgesr.errors import DeviceError, UsageError
from edgesr.imageops import load_image
from edgesr.metrics import rgb_psnr
from edgesr.runtime.sinks import DisplaySink, PngFolderSink, VideoSink, check_output, open_sink
from edgesr.runtime.sources import Frame


def _probe(path: Path) -> dict:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = {"rate": v.average_rate, "size": (v.height, v.width), "codec": v.codec_context.name}
        info["frames"] = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        info["audio_packets"] = sum(1 for p in c.demux(audio=0) if p.size) if c.streams.audio else 0
    return info


def test_video_sink_writes_h264_at_the_source_rate_with_audio(tmp_path: Path) -> None:
    src = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(20, 24, 32), fps=24)
    frames = tinymodel.test_frames(20, 96, 128, seed=3)
    sink = VideoSink(tmp_path / "out" / "out.mp4", Fraction(24), audio_from=src)
    for i, img in enumerate(frames):
        sink.write(Frame(i, img, time=i / 24), img)
    assert not (tmp_path / "out" / "out.mp4").exists()  # only the .partial name until finalised
    sink.close()
    out = _probe(tmp_path / "out" / "out.mp4")
    assert not list((tmp_path / "out").glob("out.partial*"))
    assert out["codec"] == "h264" and out["rate"] == 24 and out["size"] == (96, 128)
    assert len(out["frames"]) == 20
    psnrs = [rgb_psnr(a, b) for a, b in zip(out["frames"], frames, strict=False)]
    assert min(psnrs) > 25  # lossy (H.264 + 4:2:0 chroma), but each frame is its own, in order
    assert rgb_psnr(out["frames"][0], frames[1]) < min(psnrs)
    assert out["audio_packets"] == _probe(src)["audio_packets"] > 0


def test_odd_sizes_are_padded_for_yuv420(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "odd.mp4", None)
    img = tinymodel.test_frames(1, 33, 45)[0]
    for i in range(3):
        sink.write(Frame(i, img), img)
    sink.close()
    out = _probe(tmp_path / "odd.mp4")
    assert out["size"] == (34, 46) and out["rate"] == 30 and len(out["frames"]) == 3


def test_png_folder_sink_names(tmp_path: Path) -> None:
    sink = open_sink(str(tmp_path / "pngs"))
    assert isinstance(sink, PngFolderSink)
    img = tinymodel.test_frames(1, 8, 8)[0]
    sink.write(Frame(7, img), img)
    sink.write(Frame(8, img, name="sub/photo"), img)
    assert np.array_equal(load_image(tmp_path / "pngs" / "000007.png"), img)
    assert (tmp_path / "pngs" / "sub" / "photo.png").is_file()


def test_unwritable_output_is_refused_up_front(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    # one probe (edgesr.paths.writable_place) for the CLI and the sinks: a wrong place is a usage error
    for output in (str(blocker / "out.mp4"), str(blocker / "frames")):
        with pytest.raises(UsageError, match="cannot write there, .* is a file, not a folder") as err:
            check_output(output)
        assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="cannot write"):
        open_sink(str(blocker / "out.mp4"))
    with pytest.raises(UsageError, match="video file"):
        open_sink(str(tmp_path / "out.avi"))


def test_display_without_a_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for --output display")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DeviceError, match="no display"):
        DisplaySink()

"""Sources on real files and real OpenCV captures: every frame of a file in order, corrupt frames skipped
and counted, clear one-line errors for missing cameras and non-video files, live sources drop old frames
and end with the reason when the device goes away."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgesr.errors import BadInputError, DeviceError
from edgesr.imageops import save_image
from edgesr.runtime.sources import ImageFolderSource, LiveOptions, VideoFileSource, open_source

import tinymodel


def _decode_all(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_video_file_yields_every_frame_in_order(tmp_path: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(24, 32, 48), fps=25)
    with open_source(str(video)) as src:
        assert isinstance(src, VideoFileSource) and not src.live
        assert src.rate == 25 and src.audio_path == video
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    expected = _decode_all(video)
    assert [f.index for f in frames] == list(range(24))
    assert all(np.array_equal(f.image, e) for f, e in zip(frames, expected, strict=False))
    assert [round(f.time * 25) for f in frames] == list(range(24))  # type: ignore[operator]
    assert src.skipped == 0 and src.end_reason == "end of input"


def _corrupt_packet(video: Path, index: int) -> None:
    import av

    with av.open(str(video)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = packets[index]
    data = bytearray(video.read_bytes())
    data[pos + 8 : pos + size - 8] = np.random.default_rng(1).integers(0, 256, size - 16, dtype=np.uint8).tobytes()
    video.write_bytes(bytes(data))


def test_corrupt_frame_is_skipped_and_counted(tmp_path: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(30, 48, 64), audio=False)
    _corrupt_packet(video, 10)
    with open_source(str(video)) as src:
        n = 0
        while src.read() is not None:
            n += 1
    assert src.skipped >= 1
    assert n + src.skipped >= 30 - 1 and n < 30
    assert any("undecodable" in w for w in src.warnings)


def test_not_a_video_is_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n" * 50)
    with pytest.raises(BadInputError, match="not a video file") as err:
        open_source(str(junk))
    assert "\n" not in str(err.value)
    with pytest.raises(BadInputError, match="source not found"):
        open_source(str(tmp_path / "missing.mp4"))


def test_image_folder_skips_unreadable_images(tmp_path: Path) -> None:
    frames = tinymodel.test_frames(3, 20, 30)
    for i, img in enumerate(frames):
        save_image(tmp_path / "imgs" / f"{i:02d}.png", img)
    (tmp_path / "imgs" / "01b.png").write_bytes(b"\x89PNG broken")
    with open_source(str(tmp_path / "imgs")) as src:
        assert isinstance(src, ImageFolderSource)
        got = []
        while (f := src.read()) is not None:
            got.append(f)
    assert [f.name for f in got] == ["00", "01", "02"]
    assert all(np.array_equal(f.image, e) for f, e in zip(got, frames, strict=False))
    assert src.skipped == 1 and "01b.png" in src.warnings[0]


def test_missing_camera_names_the_device() -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for cameras")
    if Path("/dev/video9").exists():
        pytest.skip("this machine has a /dev/video9")
    with pytest.raises(DeviceError, match="/dev/video9") as err:
        open_source("9")
    assert "\n" not in str(err.value)


def test_csi_camera_without_gstreamer_says_so() -> None:
    cv2 = pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for CSI cameras")
    from edgesr.runtime.live import opencv_has_gstreamer

    if opencv_has_gstreamer(cv2):
        pytest.skip("this OpenCV has GStreamer (a Jetson?): the missing-GStreamer message does not apply")
    with pytest.raises(DeviceError, match="GStreamer"):
        open_source("csi://0")
    with pytest.raises(DeviceError, match="GStreamer"):
        open_source("videotestsrc ! videoconvert ! appsink")


def test_csi_pipeline_is_the_jetpack_one() -> None:
    from edgesr.runtime.live import csi_pipeline

    p = csi_pipeline(1, LiveOptions(size=(1080, 1920), fps=60))
    assert p.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM), width=(int)1920, height=(int)1080")
    assert "framerate=(fraction)60/1 ! nvvidconv" in p and p.endswith("appsink drop=true max-buffers=1 sync=false")


# -- live sources, driven by real OpenCV captures of a video file -------------------------------------------
def _file_capture(path: Path):  # type: ignore[no-untyped-def]
    import cv2

    return lambda: cv2.VideoCapture(str(path))


def test_live_source_keeps_only_the_newest_frame(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for live sources")
    from edgesr.runtime.live import LiveSource

    video = tinymodel.write_video(tmp_path / "cam.mp4", tinymodel.test_frames(120, 24, 32), audio=False)
    src = LiveSource("test://cam", "test camera", _file_capture(video), LiveOptions(reconnect_s=0.3))
    got = []
    try:
        while (f := src.read()) is not None and len(got) < 5:
            got.append(f)
            time.sleep(0.05)  # a slow consumer: the grabber replaces frames meanwhile
    finally:
        src.close()
    assert len(got) == 5 and [f.index for f in got] == list(range(5))
    assert src.dropped > 0


def test_live_source_that_disappears_ends_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for live sources")
    from edgesr.runtime.live import LiveSource

    video = tinymodel.write_video(tmp_path / "cam.mp4", tinymodel.test_frames(10, 24, 32), audio=False)
    src = LiveSource("test://cam", "test camera", _file_capture(video), LiveOptions(reconnect_s=0.5))
    video.unlink()  # the "camera" is unplugged: after its buffered frames, reopening fails
    n = 0
    while src.read() is not None:
        n += 1
    src.close()
    assert 1 <= n <= 10
    assert "test camera lost" in src.end_reason and "0.5 s" in src.end_reason


def test_live_source_reconnects_when_the_device_comes_back(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for live sources")
    from edgesr.runtime.live import LiveSource

    video = tinymodel.write_video(tmp_path / "cam.mp4", tinymodel.test_frames(5, 24, 32), audio=False)
    src = LiveSource("test://cam", "test camera", _file_capture(video), LiveOptions(reconnect_s=5.0))
    try:
        while src.reconnects < 2 and src.read() is not None:
            pass  # each end of the file looks like a lost device that comes straight back
    finally:
        src.close()
    assert src.reconnects >= 2
    assert any("reconnected" in w for w in src.warnings)

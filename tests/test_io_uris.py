"""Issue 18, item 1: one URI grammar (runtime.uris) for sources and outputs, jetson-utils' spelling; an unknown
scheme is refused in one line naming the known ones, never turned into a folder named after the URI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tinymodel
from export_helpers import cli, one_line_error

from edgesr.errors import UsageError
from edgesr.runtime.uris import OUTPUT_KINDS, SOURCE_KINDS, classify_output, classify_source


@pytest.mark.parametrize(
    "uri,kind,target",
    [
        ("0", "camera", "0"),
        ("/dev/video2", "camera", "2"),
        ("v4l2:///dev/video0", "camera", "0"),
        ("v4l2://1", "camera", "1"),
        ("csi://0", "csi", "0"),
        ("rtsp://10.0.0.5:8554/cam", "network", "rtsp://10.0.0.5:8554/cam"),
        ("http://cam.local/stream.mjpg", "network", "http://cam.local/stream.mjpg"),
        ("udp://@:5000", "network", "udp://@:5000"),
        ("videotestsrc ! videoconvert ! appsink", "gstreamer", "videotestsrc ! videoconvert ! appsink"),
        ("clip.mp4", "video", "clip.mp4"),
        ("file://clip.mp4", "video", "clip.mp4"),
        ("file:///data/clip.mkv", "video", "/data/clip.mkv"),
        ("photo.png", "images", "photo.png"),
        ("file://photo.jpg", "images", "photo.jpg"),
    ],
)
def test_sources_classify(uri: str, kind: str, target: str) -> None:
    ref = classify_source(uri)
    assert (ref.kind.name, ref.target) == (kind, target)
    assert ref.live == (kind in ("camera", "csi", "network", "gstreamer"))


def test_a_folder_source_is_images(tmp_path: Path) -> None:
    ref = classify_source(f"file://{tmp_path}")
    assert ref.kind.name == "images" and ref.path == tmp_path and not ref.live


@pytest.mark.parametrize(
    "uri,kind,target,report",
    [
        ("none", "none", "none", None),
        ("display", "display", "0", None),
        ("display://0", "display", "0", None),
        ("rtsp://:8554/sr", "rtsp", "rtsp://:8554/sr", None),
        ("http://:8080", "liveview", "http://:8080", None),
        ("out.mp4", "video", "out.mp4", "out.report.json"),
        ("file://out.mp4", "video", "out.mp4", "out.report.json"),
        ("file:///tmp/x/out.mkv", "video", "/tmp/x/out.mkv", "/tmp/x/out.report.json"),
        ("frames", "folder", "frames", "frames/report.json"),
        ("file://frames", "folder", "frames", "frames/report.json"),
    ],
)
def test_outputs_classify(uri: str, kind: str, target: str, report: str | None) -> None:
    ref = classify_output(uri)
    assert (ref.kind.name, ref.target) == (kind, target)
    assert ref.default_report() == (None if report is None else Path(report))


@pytest.mark.parametrize(
    "uri,words",
    [
        ("https://:8443", "unknown scheme https://"),
        ("rtmp://host/live", "unknown scheme rtmp://"),
        ("udp://:5000", "unknown scheme udp://"),
        ("http:/:8080", "write http://:8080"),
        ("display:0", "write display://0"),
        ("display://1", "only display://0"),
        ("file://", "give a path after file://"),
        ("out.avi", "give a video file"),
    ],
)
def test_outputs_refused(uri: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as err:
        classify_output(uri)
    line = str(err.value)
    assert "\n" not in line and uri in line
    if "unknown scheme" in words:  # the line lists what is known, from the table
        assert all(f"{s}://" in line for k in OUTPUT_KINDS for s in k.schemes)


@pytest.mark.parametrize("uri", ["foo://x", "v4l2://cam", "csi://left", "rtsp:/host/x"])
def test_sources_refused(uri: str) -> None:
    with pytest.raises(UsageError) as err:
        classify_source(uri)
    assert uri in str(err.value)


def test_a_colon_in_a_file_name_is_a_path() -> None:
    assert classify_output("take:2.mp4").kind.name == "video"
    assert classify_source("take:2.mp4").kind.name == "video"


def test_help_names_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI imports runtime lazily, so its help lines are text: they must name every scheme of the tables."""
    from edgesr.cli.stream_cmd import OUTPUT_HELP, SOURCE_HELP

    for kinds, text in ((SOURCE_KINDS, SOURCE_HELP), (OUTPUT_KINDS, OUTPUT_HELP)):
        for k in kinds:
            for s in k.schemes:
                assert f"{s}://" in text, (k.name, s)
    code, out, _ = cli(capsys, "stream", "--help")
    assert code == 0 and "display://0" in out and "v4l2:///dev/video0" in out


# -- the bugs, end to end ------------------------------------------------------------------------------------------
@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    frames = tmp_path / "in"
    from edgesr.imageops import save_image

    for i, img in enumerate(tinymodel.test_frames(3, 16, 24)):
        save_image(frames / f"{i:03d}.png", img)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def go(*args: str) -> tuple[int, str, str]:
        return cli(capsys, "stream", "--engine", str(model), "--source", str(frames), "--check-every", "0", "-q",
                   *args)

    return go, work


def test_file_uri_output_writes_the_video(run) -> None:  # type: ignore[no-untyped-def]
    go, work = run
    code, out, err = go("-o", "file://out.mp4")
    assert code == 0, err
    assert sorted(p.name for p in work.iterdir()) == ["out.mp4", "out.report.json"]  # no ./file: folder
    assert json.loads((work / "out.report.json").read_text())["frames_out"] == 3


def test_display_uri_is_the_window_not_a_folder(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for --output display")
    go, work = run
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = go("-o", "display://0")
    assert code == 1 and "no display here" in one_line_error(err)  # the display sink's own error
    assert list(work.iterdir()) == []  # no ./display:/0/ folder


@pytest.mark.parametrize("uri", ["https://:8443", "rtmp://host/live", "http:/:8080"])
def test_unknown_output_scheme_exits_2_and_writes_nothing(run, uri: str) -> None:  # type: ignore[no-untyped-def]
    go, work = run
    code, _, err = go("-o", uri)
    assert code == 2 and uri in one_line_error(err)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("uri", ["rtsp://127.0.0.1:9/x", "csi://0", "v4l2:///dev/video0", "videotestsrc ! appsink"])
def test_realtime_is_refused_for_every_live_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--source", uri, "--realtime", "-o", "none")
    assert code == 2 and "is live" in one_line_error(err)

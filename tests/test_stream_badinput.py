"""Must-show 6: bad input at the CLI: each a one-line `error:` and an exit code, or a counted skip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tinymodel
from export_helpers import cli, one_line_error


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(20, 24, 32), audio=False)


def test_missing_camera(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for cameras")
    if Path("/dev/video9").exists():
        pytest.skip("this machine has a /dev/video9")
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--camera", "9", "-o", "none")
    assert code == 1 and "camera /dev/video9 not found" in one_line_error(err)


def test_non_video_file(capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path) -> None:
    junk = tmp_path / "holiday.mp4"
    junk.write_bytes(b"\x00\x01 definitely not a video " * 100)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(junk), "-o", "none")
    assert code == 1 and "is not a video file" in one_line_error(err) and "holiday.mp4" in err


def test_corrupt_frame_is_a_counted_skip(
    capsys: pytest.CaptureFixture[str], model: Path, video: Path, tmp_path: Path
) -> None:
    from test_runtime_sources import _corrupt_packet

    _corrupt_packet(video, 8)
    code, out, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o",
                         str(tmp_path / "o.mp4"), "-q")
    assert code == 0, err
    report = json.loads((tmp_path / "o.report.json").read_text())
    assert report["skipped"] >= 1 and report["frames_in"] == report["frames_out"] == 20 - report["skipped"]
    assert report["end_reason"] == "end of input" and "warning: skipped an undecodable frame" in err


def test_engine_of_another_scale(capsys: pytest.CaptureFixture[str], model: Path, video: Path, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "none", "--scale", "2")
    assert code == 1 and "x4 model, but x2 was asked for" in one_line_error(err)
    x2_ref = tinymodel.tiny_onnx(tmp_path / "x2.onnx", scale=2)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "none",
                       "--reference", str(x2_ref))
    assert code == 1 and "x2 model, but x4 was asked for" in one_line_error(err)


def test_unwritable_output_fails_before_processing(
    capsys: pytest.CaptureFixture[str], model: Path, video: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    for output in (str(blocker / "out.mp4"), str(blocker / "frames")):
        code, out, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", output)
        assert code == 2 and "is a file, not a folder" in one_line_error(err)  # a usage error (issue 9)
        assert out == ""  # nothing was processed
    assert not list(tmp_path.glob("**/*.report.json"))


def test_conflicting_and_missing_flags(capsys: pytest.CaptureFixture[str], model: Path, video: Path) -> None:
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "--camera", "0", "-o", "none")
    assert code == 2 and "exactly one of --camera, --video, --source" in one_line_error(err)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "-o", "none")
    assert code == 2 and "got none" in err
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "none",
                       "--fail-below", "40")
    assert code == 2 and "need an FP32 reference" in one_line_error(err)
    code, _, err = cli(capsys, "stream", "--engine", str(model.with_name("nope.engine")), "--video", str(video),
                       "-o", "none")
    assert code == 1 and "model not found" in one_line_error(err)


def test_no_output_and_no_display(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model: Path, video: Path
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video))
    assert code == 2 and "no --output given and no display here" in one_line_error(err)

"""The Jetson install of docs/jetson.md, run for real: a venv with --system-site-packages over the system OpenCV (built
with GStreamer), edgesr's base install (no torch, no pip OpenCV), then GStreamer sources through it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from live_helpers import edgesr, gst_has, mp4_frames, need, one_line_error, report

pytestmark = pytest.mark.slow


def test_info_sees_system_opencv_with_gstreamer_and_no_torch(jetson_venv: Path) -> None:
    run = edgesr("info", python=jetson_venv / "bin" / "python")
    assert run.returncode == 0, run.stderr
    print("\n" + run.stdout)
    assert "opencv GStreamer       YES" in run.stdout
    assert "torch                  not installed" in run.stdout
    assert "/usr/lib/python3" in run.stdout.split("opencv path")[1].splitlines()[0]
    assert not run.stderr.strip()  # no shadowing warning: pip's OpenCV is not there


def test_stream_from_a_raw_gstreamer_pipeline(jetson_venv: Path, tmp_path: Path) -> None:
    """The csi:// code path (OpenCV's GStreamer backend) minus nvarguscamerasrc."""
    need(gst_has("videotestsrc", "videoconvert", "appsink"), "GStreamer base plugins are missing")
    engine = tmp_path / "tiny.onnx"
    import tinymodel

    tinymodel.tiny_onnx(engine)
    pipeline = "videotestsrc num-buffers=60 ! video/x-raw,width=64,height=48 ! videoconvert ! appsink"
    out = tmp_path / "out.mp4"
    run = edgesr("stream", "-e", engine, "--source", pipeline, "-o", out, "--max-frames", 60, "--check-every", 0, "-q",
                 python=jetson_venv / "bin" / "python")
    assert run.returncode == 0, run.stderr
    rep = report(tmp_path / "out.report.json")
    assert rep["frames_in"] == 60 and rep["end_reason"] == "max frames reached (60)"
    assert mp4_frames(out) == (60, (192, 256))


def test_csi_without_nvidia_plugin_names_the_missing_element(jetson_venv: Path, tmp_path: Path) -> None:
    need(not gst_has("nvarguscamerasrc"), "this machine HAS nvarguscamerasrc (a Jetson): nothing is missing")
    run = edgesr("stream", "--source", "csi://0", "-o", "none", python=jetson_venv / "bin" / "python")
    line = one_line_error(run)
    assert line.startswith("error: csi://0 needs the GStreamer element(s) nvarguscamerasrc"), line
    assert "JetPack" in line


def test_info_warns_when_pip_opencv_shadows_the_system_one(jetson_venv: Path, tmp_path: Path) -> None:
    """pip's opencv-python-headless (this test process has it) laid out where the venv's Python finds it first."""
    try:
        dist = next(d for d in metadata.distributions() if (d.metadata["Name"] or "").startswith("opencv-python"))
    except StopIteration:
        pytest.skip("no pip opencv-python* in the test environment to shadow the system OpenCV with")
    shadow = tmp_path / "pip-site"
    shadow.mkdir()
    site = Path(str(dist.locate_file("")))
    for name in ["cv2", f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}.dist-info",
                 f"{dist.metadata['Name'].replace('-', '_')}.libs"]:
        if (site / name).exists():
            (shadow / name).symlink_to(site / name)
    run = edgesr("info", python=jetson_venv / "bin" / "python", env={"PYTHONPATH": str(shadow)})
    assert run.returncode == 0, run.stderr
    assert f"opencv path            {shadow / 'cv2'}" in run.stdout
    warning = run.stderr.strip()
    assert warning.startswith(f"warning: pip's {dist.metadata['Name'].lower()} {dist.version}"), run.stderr
    assert "shadows the OpenCV in /usr/lib/python3" in warning and "pip uninstall" in warning

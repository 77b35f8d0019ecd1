"""Network outputs at the CLI: bad URLs, conflicting flags and a missing GStreamer are one-line errors,
before the engine loads."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
import tinymodel
from export_helpers import cli, one_line_error


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(5, 24, 32), audio=False)


@pytest.mark.parametrize(
    ("outputs", "extra", "message"),
    [
        (["http://:8080/view"], [], "the live view is served at the root"),
        (["rtsp://:8554"], [], "give a mount name"),
        (["rtsp://127.0.0.1/sr"], [], "give a port"),
        (["none", "http://:0"], [], "--output none cannot be combined"),
        (["http://:18080", "rtsp://:18080/sr"], [], "port 18080 is used by two outputs"),
        (["http://127.0.0.1:0"], ["--listen", "0.0.0.0"], "binds 127.0.0.1 but --listen says 0.0.0.0"),
        (["none"], ["--listen", "0.0.0.0"], "--listen applies to rtsp:// or http:// outputs"),
    ],
)
def test_bad_network_outputs_are_refused(
    capsys: pytest.CaptureFixture[str], model: Path, video: Path, outputs: list[str], extra: list[str], message: str
) -> None:
    args = [a for o in outputs for a in ("-o", o)]
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), *args, *extra)
    assert code == 2 and message in one_line_error(err)


def test_busy_port_is_one_line(capsys: pytest.CaptureFixture[str], model: Path, video: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", f"http://:{port}")
    assert code == 1 and f"cannot serve the live view on 127.0.0.1:{port}" in one_line_error(err)


def test_rtsp_without_gstreamer_names_the_packages(
    capsys: pytest.CaptureFixture[str], model: Path, video: Path, tmp_path: Path
) -> None:
    if importlib.util.find_spec("gi") is not None:
        pytest.skip("this Python has gi (PyGObject): the RTSP server is tested in test_netout_rtsp.py")
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video),
                       "-o", str(tmp_path / "out.mp4"), "-o", "rtsp://:0/sr")
    line = one_line_error(err)
    assert code == 1 and "gir1.2-gst-rtsp-server-1.0" in line and "python3-gi" in line
    assert not (tmp_path / "out.mp4").exists()  # refused before anything was written


def test_realtime_refuses_a_live_source(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--source", "rtsp://127.0.0.1:1/none",
                       "--reconnect", "0", "-o", "none", "--realtime")
    assert code == 2 and "--realtime is for video files" in one_line_error(err)

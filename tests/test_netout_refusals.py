"""Serving safely at the CLI: exposure without a password, empty or conflicting flags, bad credentials
and unknown output schemes are one-line errors before the engine loads; a password in a source URI is
never on the error line. (Nothing here serves beyond loopback: the refusals come before any bind.)"""

from __future__ import annotations

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


EXPOSED = "to the network without authentication"


@pytest.mark.parametrize(
    ("outputs", "extra", "message"),
    [
        (["http://:0"], ["--listen", "0.0.0.0"], EXPOSED),
        (["http://0.0.0.0:0"], [], EXPOSED),
        (["rtsp://0.0.0.0:0/sr"], [], EXPOSED),
        (["http://[::]:0"], [], EXPOSED),
        (["http://:0"], ["--listen", "::"], EXPOSED),
        (["http://:0"], ["--listen", ""], "--listen is empty"),
        (["http://:0"], ["--listen", " "], "--listen is empty"),
        (["http://:0"], ["--auth", "a:b", "--insecure-no-auth"], "--insecure-no-auth contradicts"),
        (["http://:0"], ["--auth", "nocolon"], "--auth: expected USER:PASSWORD"),
        (["http://:0"], ["--auth", "user:"], "--auth: expected USER:PASSWORD"),
        (["http://:0"], ["--auth", ":pass"], "--auth: expected USER:PASSWORD"),
        (["http://:0"], ["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["http://:0"], ["--max-clients", "0"], "--max-clients must be in"),
        (["none"], ["--auth", "a:b"], "--auth applies to rtsp:// or http:// outputs"),
    ],
)
def test_unsafe_or_empty_serving_flags_are_refused(
    capsys: pytest.CaptureFixture[str], model: Path, video: Path, outputs: list[str], extra: list[str], message: str
) -> None:
    args = [a for o in outputs for a in ("-o", o)]
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), *args, *extra)
    assert code == 2 and message in one_line_error(err)


def test_auth_file_and_environment(capsys: pytest.CaptureFixture[str], model: Path, video: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.auth"
    empty.write_text("# nobody\n\n")
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "http://:0",
                       "--auth-file", str(empty))
    assert code == 1 and "no user:password line" in one_line_error(err)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "http://:0",
                       "--auth-file", "/dev/zero")
    assert code == 1 and "not a regular file" in one_line_error(err)
    monkeypatch.setenv("EDGESR_AUTH", "no-colon-here")
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "http://:0")
    assert code == 2 and "$EDGESR_AUTH: expected USER:PASSWORD" in one_line_error(err)


def test_tls_files_that_do_not_load_are_one_line(capsys: pytest.CaptureFixture[str], model: Path, video: Path,
                                                 tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", "http://:0",
                       "--tls-cert", str(cert), "--tls-key", str(key))
    line = one_line_error(err)
    assert code == 1 and "cannot load the certificate and key" in line and str(tmp_path) not in line


@pytest.mark.parametrize("output", ["https://:8443", "rtmp://127.0.0.1/live", "http:/:8080", "ftp://host/x"])
def test_unknown_output_schemes_are_refused(capsys: pytest.CaptureFixture[str], model: Path, video: Path,
                                            output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown scheme is one line naming it, never a PNG folder with exit 0 (the URI registry of issue 18
    makes the refusal; this holds it for the network spellings)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "-o", output)
    assert code != 0 and one_line_error(err)
    assert not [p for p in tmp_path.rglob("*.png")]


@pytest.mark.parametrize("flag", ["--source", "--video"])
def test_a_source_password_is_not_on_the_error_line(capsys: pytest.CaptureFixture[str], model: Path,
                                                     flag: str) -> None:
    code, out, err = cli(capsys, "stream", "--engine", str(model), flag, "rtsp://alice:Hunter2pw@127.0.0.1:1/cam",
                         "--reconnect", "0", "-o", "none")
    line = one_line_error(err)
    assert code != 0 and "Hunter2pw" not in line + out and "alice:***@127.0.0.1" in line


@pytest.mark.parametrize(("flag", "value"), [("--int8-keep", ""), ("--int8-keep", ",,,"), ("--calib-method", "")])
def test_empty_build_values_are_refused(capsys: pytest.CaptureFixture[str], model: Path, flag: str,
                                        value: str) -> None:
    """An empty value never silently falls back to the default (the sweep's finding 16)."""
    code, _, err = cli(capsys, "build-engine", str(model), "--int8", "--backend", "onnxruntime", flag, value)
    assert code == 2 and f"{flag} is empty" in one_line_error(err)

"""``-o rtsp://`` with ``--auth``: real clients (PyAV/FFmpeg) are refused without or with wrong credentials and
get frames with the right ones in the URL; a second ``edgesr stream`` that reads that camera-like source
(``--source rtsp://user:password@...``) never shows the password: not on its terminal, in its report, on
its live view page or in its ``/stats.json``. Over UDP, the RTP/RTCP sockets bind the address RTSP listens
on. Server as on a Jetson (``netout_env.jetson_like_python``); everything on loopback."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from pathlib import Path

import pytest
import tinymodel
from netout_env import Stream, jetson_like_python, project_python

pytestmark = pytest.mark.slow
USER, PASSWORD = "cam", "Xyzzy-s3cret"


@pytest.fixture(scope="module")
def jpython() -> Path:
    return jetson_like_python()


def read_frames(url: str, n: int, transport: str = "tcp") -> int:
    import av

    got = 0
    with av.open(url, options={"rtsp_transport": transport}, timeout=30) as c:
        for _ in c.decode(video=0):
            got += 1
            if got >= n:
                break
    return got


def udp_addresses(pid: int) -> set[str]:
    """Local IPv4 addresses of the UDP sockets process ``pid`` holds (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = set()
    for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[9] in inodes:
            ip_hex = cols[1].split(":")[0]
            found.add(socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1]))
    return found


def test_rtsp_needs_the_password_and_a_reader_never_shows_it(tmp_path: Path, jpython: Path) -> None:
    import av

    d = tmp_path
    model = tinymodel.tiny_onnx(d / "fp32.onnx")
    video = tinymodel.write_video(d / "in.mp4", tinymodel.test_frames(1800, 48, 64), fps=30, audio=False)
    server = Stream(jpython, ["--engine", str(model), "--video", str(video), "--realtime", "--check-every", "0",
                              "-o", "rtsp://127.0.0.1:0/cam", "--auth", f"{USER}:{PASSWORD}",
                              "--report", str(d / "server.json")], d)
    reader: Stream | None = None
    try:
        url = server.served_url("rtsp")
        assert "password required" in server.stderr()
        for bad in (url, url.replace("rtsp://", f"rtsp://{USER}:wrong@")):
            with pytest.raises(av.error.HTTPUnauthorizedError):
                read_frames(bad, 1)
        good = url.replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@")
        assert read_frames(good, 10) == 10
        assert read_frames(good, 10, transport="udp") == 10
        assert udp_addresses(server.proc.pid) <= {"127.0.0.1"}  # media sockets bound where RTSP listens

        # a second edgesr reads it as its camera: the password must appear nowhere it shows or writes
        out = d / "reader"
        reader = Stream(project_python(), ["--engine", str(model), "--source", good, "--check-every", "0",
                                           "--max-frames", "90", "-o", "http://127.0.0.1:0", "-o", str(out / "frames"),
                                           "--report", str(out / "report.json")], d)
        base = reader.served_url("http")
        deadline = time.monotonic() + 60
        served = b""
        while time.monotonic() < deadline and b'"frames_out": 0' in (served or b'"frames_out": 0'):
            with urllib.request.urlopen(base + "stats.json", timeout=30) as r:
                served = r.read()
            time.sleep(0.2)
        with urllib.request.urlopen(base, timeout=30) as r:
            page = r.read()
        code, stdout, stderr = reader.wait(timeout=120)
        assert code == 0, stderr[-2000:]
        report = (out / "report.json").read_text()
        assert f"{USER}:***@127.0.0.1" in report
        everything = [served, page, report.encode(), stdout.encode(), stderr.encode()]
        everything += [p.read_bytes() for p in out.rglob("*") if p.is_file()]
        assert not [i for i, blob in enumerate(everything) if PASSWORD.encode() in blob]
    finally:
        if reader is not None and reader.proc.poll() is None:
            reader.stop()
        code, _, err = server.stop()
    assert code == 130, err[-2000:]
    network = next(iter(json.loads((d / "server.json").read_text())["network"].values()))
    assert network["auth_failures"] >= 1  # the wrong password was counted


def test_rtsp_client_limit_and_idle_connections(tmp_path: Path, jpython: Path) -> None:
    """``--max-clients 2``: two connections that never send a request hold both slots; the third is closed at
    once; the idle two are closed after the idle timeout (half-open connections are not held forever)."""
    model = tinymodel.tiny_onnx(tmp_path / "fp32.onnx")
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(1800, 48, 64), fps=30, audio=False)
    server = Stream(jpython, ["--engine", str(model), "--video", str(video), "--realtime", "--check-every", "0",
                              "-o", "rtsp://127.0.0.1:0/cam", "--max-clients", "2", "--auth", f"{USER}:{PASSWORD}",
                              "--report", str(tmp_path / "server.json")], tmp_path)
    idle: list[socket.socket] = []
    try:
        url = server.served_url("rtsp")
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as third:
            third.sendall(f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert third.recv(64) == b""  # closed at once
        t0 = time.monotonic()
        for s in idle:
            assert s.recv(1) == b""  # closed by the server
        assert time.monotonic() - t0 < 25
    finally:
        for s in idle:
            s.close()
        code, _, err = server.stop()
    assert code == 130, err[-2000:]
    network = next(iter(json.loads((tmp_path / "server.json").read_text())["network"].values()))
    assert network["refused_busy"] >= 1 and network["timed_out"] >= 2


def test_rtsps_with_a_certificate(tmp_path: Path, jpython: Path) -> None:
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                           "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr[-300:]}")
    model = tinymodel.tiny_onnx(tmp_path / "fp32.onnx")
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(900, 48, 64), fps=30, audio=False)
    server = Stream(jpython, ["--engine", str(model), "--video", str(video), "--realtime", "--check-every", "0",
                              "-o", "rtsp://127.0.0.1:0/cam", "--auth", f"{USER}:{PASSWORD}",
                              "--tls-cert", str(cert), "--tls-key", str(key)], tmp_path)
    try:
        url = server.served_url("rtsps")
        assert read_frames(url.replace("rtsps://", f"rtsps://{USER}:{PASSWORD}@"), 5) == 5
    finally:
        code, _, err = server.stop()
    assert code == 130, err[-2000:]

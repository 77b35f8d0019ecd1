"""The live view as an attacker and a broken client see it, on loopback: every path needs the password,
a foreign ``Host`` is refused, the client limit holds (503) while the stream keeps its frame rate, request
heads are bounded in size and time, ``HEAD /stream.mjpg`` has no body, a GET's body is never a second
request, ``Server:`` names no Python, HTTPS works with ``--tls-cert``, and nothing served names an absolute
path of the machine."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import tinymodel
from netout_env import Stream, project_python

pytestmark = pytest.mark.slow
PATHS = ["/", "/frame.jpg", "/stream.mjpg", "/stats.json", "/nothing-here"]
USER, PASSWORD = "viewer", "c0rrect-h0rse"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("media")
    fp32 = tinymodel.tiny_onnx(d / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(d / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(d / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")
    video = tinymodel.write_video(d / "in.mp4", tinymodel.test_frames(2400, 48, 64), fps=30, audio=False)
    return engine, video


def request(port: int, raw: bytes, timeout: float = 15.0, tls: ssl.SSLContext | None = None) -> bytes:
    """Send ``raw``, return everything the server sends until it closes (or the first 64 kB of an endless body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
        s = tls.wrap_socket(plain, server_hostname="localhost") if tls else plain
        s.sendall(raw)
        buf = b""
        while len(buf) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def get(port: int, path: str, auth: str | None = None, host: str = "127.0.0.1", method: str = "GET",
        tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if auth is not None:
        head += f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
    data = request(port, (head + "\r\n").encode(), tls=tls)
    return int(data.split(b" ", 2)[1]), data


def figures(port: int) -> dict:
    code, data = get(port, "/stats.json", f"{USER}:{PASSWORD}")
    assert code == 200, data[:300]
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def test_every_path_needs_the_password_and_the_limits_hold(tmp_path: Path, media: tuple[Path, Path]) -> None:
    engine, video = media
    auth_file = tmp_path / "viewers.auth"
    auth_file.write_text(f"# who may watch\n{USER}:{PASSWORD}\nother:pw2\n")
    stream = Stream(project_python(), ["--engine", str(engine), "--video", str(video), "--realtime",
                                       "-o", "http://:0", "-o", str(tmp_path / "frames"), "--max-clients", "6",
                                       "--auth-file", str(auth_file), "--report", str(tmp_path / "r.json")],
                    tmp_path)
    held: list[socket.socket] = []
    try:
        port = int(stream.served_url("http").rsplit(":", 1)[1].strip("/"))
        assert "password required" in stream.stderr()
        for path in PATHS:
            code, data = get(port, path)
            assert code == 401 and b'WWW-Authenticate: Basic realm="edgesr live view"' in data, path
            assert get(port, path, f"{USER}:wrong")[0] == 401, path
            assert get(port, path, f"nobody:{PASSWORD}")[0] == 401, path
        for path in PATHS[:4]:
            code, data = get(port, path, f"{USER}:{PASSWORD}")
            assert code == 200 and b"\r\nServer: edgesr\r\n" in data and b"Python" not in data, path
        assert get(port, "/stats.json", "other:pw2")[0] == 200  # every line of the file is a user
        # DNS rebinding: a page on evil.example that resolves to this device sends its own name
        assert get(port, "/stats.json", f"{USER}:{PASSWORD}", host="evil.example:80")[0] == 403
        assert get(port, "/stats.json", f"{USER}:{PASSWORD}", host="localhost")[0] == 200

        # HEAD /stream.mjpg: the headers, no endless body (the server closes at once)
        t0 = time.monotonic()
        code, data = get(port, "/stream.mjpg", f"{USER}:{PASSWORD}", method="HEAD")
        assert code == 200 and data.endswith(b"\r\n\r\n") and time.monotonic() - t0 < 5
        # a GET's body is not a second request: one answer, then the connection closes
        smuggled = b"GET /stats.json HTTP/1.1\r\nHost: x\r\n\r\n"
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        data = request(port, b"GET /stats.json HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic " + auth.encode()
                       + b"\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
        assert data.count(b"HTTP/1.1 ") == 1 and status(data) == 200
        # an oversize head is refused (431), not parked
        data = request(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        assert status(data) in (431, 414)

        # the client limit: 6 connections that never send a byte hold every slot; the 7th gets 503 at once
        deadline = time.monotonic() + 60
        while len(held) < 6 and time.monotonic() < deadline:
            s = socket.create_connection(("127.0.0.1", port))  # blocking: MSG_DONTWAIT below does not wait
            time.sleep(0.2)
            try:  # answered at once: refused while an earlier client's thread was still ending; try again
                s.recv(1, socket.MSG_DONTWAIT)
                s.close()
            except BlockingIOError:
                held.append(s)
        assert len(held) == 6
        t0 = time.monotonic()
        code, data = get(port, "/stats.json", f"{USER}:{PASSWORD}")
        assert code == 503 and b"Retry-After" in data and time.monotonic() - t0 < 3, data[:3000]
        # slowloris: the idle ones are closed after the head timeout, and the slots come back
        time.sleep(11.5)
        for s in held:
            s.settimeout(10)
            assert s.recv(1) == b""
        code, data = get(port, "/stats.json", f"{USER}:{PASSWORD}")
        assert code == 200
        served = json.loads(data.split(b"\r\n\r\n", 1)[1])
        text = json.dumps(served)
        assert str(tmp_path) not in text and str(engine.parent) not in text and served["title"].startswith("in.mp4 ")
    finally:
        for s in held:
            s.close()
        code, _, err = stream.stop()
    assert code == 130, err[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    net = next(iter(report["network"].values()))
    assert net["auth_failures"] >= 2 * len(PATHS) and net["refused_busy"] >= 1 and net["refused_host"] == 1
    assert net["timed_out"] >= 6 and net["peak_clients"] == 6
    assert report["fps"] > 27  # the file plays at 30 fps (--realtime) whatever the clients did
    assert PASSWORD not in (tmp_path / "r.json").read_text() + err


def test_https_with_a_certificate(tmp_path: Path, media: tuple[Path, Path]) -> None:
    engine, video = media
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                           "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr[-300:]}")
    stream = Stream(project_python(), ["--engine", str(engine), "--video", str(video), "--realtime",
                                       "--max-frames", "150", "-o", "http://:0", "--auth", f"{USER}:{PASSWORD}",
                                       "--tls-cert", str(cert), "--tls-key", str(key)], tmp_path)
    try:
        url = stream.served_url("https")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        ctx = ssl.create_default_context(cafile=str(cert))
        assert get(port, "/stats.json", tls=ctx)[0] == 401
        code, data = get(port, "/frame.jpg", f"{USER}:{PASSWORD}", tls=ctx)
        assert code == 200 and b"image/jpeg" in data
        # plain HTTP to the HTTPS port gets no page
        try:
            plain = request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        except ConnectionResetError:
            plain = b""
        assert not plain.startswith(b"HTTP/1.1 200")
    finally:
        code, _, err = stream.wait(timeout=120)
    assert code == 0, err[-2000:]


def test_ipv6_loopback(tmp_path: Path, media: tuple[Path, Path]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    engine, video = media
    stream = Stream(project_python(), ["--engine", str(engine), "--video", str(video), "--realtime",
                                       "--max-frames", "150", "-o", "http://:0", "--listen", "::1"], tmp_path)
    try:
        deadline = time.monotonic() + 60
        while "http://[::1]:" not in stream.stderr() and time.monotonic() < deadline and stream.proc.poll() is None:
            time.sleep(0.1)
        port = int(stream.stderr().split("http://[::1]:", 1)[1].split("/", 1)[0])
        with socket.create_connection(("::1", port), timeout=15) as s:
            s.sendall(f"GET /stats.json HTTP/1.1\r\nHost: [::1]:{port}\r\nConnection: close\r\n\r\n".encode())
            assert s.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        code, _, err = stream.wait(timeout=120)
    assert code == 0, err[-2000:]

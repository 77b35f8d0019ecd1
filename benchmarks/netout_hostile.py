"""The live view under misbehaving clients: RSS of the stream process and its frame rate, measured in ONE run
(``-o http://`` with ``--auth``, a camera-paced video, ``--realtime``), window after window:

1. nobody connected;
2. 50 connections that are opened and never send a byte (idle; closed by the server after 10 s);
3. 40 slowloris connections trickling header bytes; 3b. 40 connections each sending the sweep's 100 header
   lines of 64 kB (the request head is capped at 8 kB: they get 431 and are closed);
4. 10 MJPEG readers;
5. 10 MJPEG clients that never read (a 4 kB receive window);
6. 20 wrong passwords in a row;
7. everyone gone.

    python benchmarks/netout_hostile.py [--max-clients 64] [--window 5]

Results: ``benchmarks/results/netout_hostile.json`` (with ``uptime`` load: two shared cores here).
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from edgesr.testing import netclients, tinymodel

HERE = Path(__file__).resolve().parent

USER, PASSWORD = "bench", "bench-pw"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def figures(base: str) -> dict:
    req = urllib.request.Request(base + "stats.json", headers={"Authorization": AUTH})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def window(base: str, seconds: float, pid: int) -> dict:
    a, t0 = figures(base), time.monotonic()
    time.sleep(seconds)
    b, t1 = figures(base), time.monotonic()
    return {"fps": round((b["frames_out"] - a["frames_out"]) / (t1 - t0), 2), "rss_mb": rss_mb(pid),
            "connections": b.get("connections")}


def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


class Trickle(threading.Thread):
    """Slowloris: a request line, then one header byte per 0.5 s, headers never ending."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, threading.Event()

    def run(self) -> None:
        try:
            with connect(self.port) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 4000)
                while not self.stop.wait(0.5):
                    s.sendall(b"a")
        except OSError:
            pass


class HeaderFlood(threading.Thread):
    """The sweep's attack: 100 header lines of 64 kB each, sent as fast as the server takes them."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.answer = port, ""

    def run(self) -> None:
        try:
            with connect(self.port) as s:
                s.settimeout(10)
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                for i in range(100):
                    s.sendall(b"X-%d: " % i + b"a" * 65536 + b"\r\n")
        except OSError:
            pass
        try:
            self.answer = s.recv(64).split(b"\r\n")[0].decode()
        except OSError as exc:
            self.answer = type(exc).__name__


class MjpegReader(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stop, self.bytes = port, threading.Event(), 0

    def run(self) -> None:
        try:
            with connect(self.port) as s:
                s.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n\r\n".encode())
                s.settimeout(5)
                while not self.stop.is_set():
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    self.bytes += len(chunk)
        except OSError:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-clients", type=int, default=64)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "netout_hostile.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edgesr-hostile-"))
    model = tinymodel.tiny_onnx(tmp / "fp32.onnx")
    video = tinymodel.write_video(tmp / "in.mp4", tinymodel.test_frames(9000, 90, 160), fps=30, audio=False)
    stream = netclients.Stream(sys.executable, [
        "--engine", str(model), "--video", str(video), "--realtime", "--check-every", "0", "-o", "http://127.0.0.1:0",
        "--auth", f"{USER}:{PASSWORD}", "--max-clients", str(args.max_clients)], tmp)
    rows: dict[str, dict] = {}
    held: list[socket.socket] = []
    try:
        base = stream.served_url("http")
        port, pid = int(base.rsplit(":", 1)[1].strip("/")), stream.proc.pid
        time.sleep(2.0)
        rows["1 nobody"] = window(base, args.window, pid)
        held = [connect(port) for _ in range(50)]
        rows["2 50 idle connections"] = window(base, args.window, pid)
        for s in held:
            s.close()
        time.sleep(1.0)
        trickles = [Trickle(port) for _ in range(40)]
        for t in trickles:
            t.start()
        rows["3 40 slowloris"] = window(base, args.window, pid)
        for t in trickles:
            t.stop.set()
        time.sleep(1.0)
        floods = [HeaderFlood(port) for _ in range(40)]
        for t in floods:
            t.start()
        rows["3b 40 header floods"] = window(base, args.window, pid)
        rows["3b 40 header floods"]["answers"] = sorted({t.answer for t in floods})
        readers = [MjpegReader(port) for _ in range(10)]
        for r in readers:
            r.start()
        rows["4 10 MJPEG readers"] = window(base, args.window, pid)
        rows["4 10 MJPEG readers"]["mjpeg_mb_per_s_total"] = round(sum(r.bytes for r in readers) / 1e6 / args.window, 2)
        for r in readers:
            r.stop.set()
        stalled = [connect(port, rcvbuf=4096) for _ in range(10)]
        for s in stalled:
            s.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n\r\n".encode())
        rows["5 10 MJPEG non-readers"] = window(base, args.window, pid)
        for s in stalled:
            s.close()
        wrong = "Basic " + base64.b64encode(b"bench:guess").decode()
        t0 = time.monotonic()
        for _ in range(8):
            req = urllib.request.Request(base + "stats.json", headers={"Authorization": wrong})
            try:
                urllib.request.urlopen(req, timeout=30)
            except urllib.error.HTTPError:
                pass
        rows["6 8 wrong passwords"] = {"seconds_for_8": round(time.monotonic() - t0, 1), "rss_mb": rss_mb(pid)}
        time.sleep(12.0)  # idle and slow ones are timed out by now
        rows["7 everyone gone"] = window(base, args.window, pid)
    finally:
        for s in held:
            s.close()
        code, _, err = stream.stop()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result = {"load": load, "max_clients": args.max_clients, "windows": rows, "exit": code}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, row in rows.items():
        print(f"{name:28s} {row}")
    print(load)
    if code not in (0, 130):
        print(err[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()

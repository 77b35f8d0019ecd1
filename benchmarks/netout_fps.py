"""Stream fps while it is watched: no viewer, an RTSP client, a client that never reads, a browser on the
live view (``-o rtsp://`` + ``-o http://``), measured in ONE run as windows of the live figures.

    python benchmarks/netout_fps.py [--frames 6000] [--hw 90x160] [--window 5]
    python benchmarks/netout_fps.py --screenshot benchmarks/results/liveview.png   # docs/streaming.md's picture

The stream runs the way it would on a Jetson: a venv of the system Python with GStreamer's RTSP server
(``edgesr.testing.jetson_like``); the clients run from this Python (PyAV) and Chromium. The
video is read as fast as the engine allows (no ``--realtime``), so each window shows what its viewer
costs. On a machine with few cores the clients share the CPU with the stream: a drop there is CPU
contention, not blocking (the stalled-client window shows the difference). Results:
``benchmarks/results/netout_fps.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from edgesr.testing import Unavailable, netclients, tinymodel
from edgesr.testing.jetson_like import jetson_like_rtsp_python

HERE = Path(__file__).resolve().parent


def figures(base: str) -> dict:
    with urllib.request.urlopen(base + "stats.json", timeout=30) as r:
        return json.loads(r.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def window(base: str, seconds: float, pid: int) -> dict:
    """fps over ``seconds``, and the stream's CPU share: a stream that gets less CPU (contention) keeps its
    frames per CPU-second; a blocked one would lose them."""
    a, c0, t0 = figures(base), cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    b, c1, t1 = figures(base), cpu_seconds(pid), time.monotonic()
    frames = b["frames_out"] - a["frames_out"]
    return {"fps": round(frames / (t1 - t0), 2), "stream_cpu_share": round((c1 - c0) / (t1 - t0), 2),
            "frames_per_stream_cpu_s": round(frames / max(c1 - c0, 1e-9), 1),
            "jpegs_served_per_s": round((b["jpegs_served"] - a["jpegs_served"]) / (t1 - t0), 2)}


class Reader(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.count, self.stop = url, 0, threading.Event()

    def run(self) -> None:
        import av

        with av.open(self.url, options={"rtsp_transport": "tcp"}, timeout=30) as c:
            for _ in c.decode(video=0):
                self.count += 1
                if self.stop.is_set():
                    return


def measure(args: argparse.Namespace, tmp: Path) -> dict:
    python = jetson_like_rtsp_python()
    h, w = (int(v) for v in args.hw.split("x"))
    fp32 = tinymodel.tiny_onnx(tmp / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(tmp / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(tmp / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")
    video = tinymodel.write_video(tmp / "in.mp4", tinymodel.test_frames(args.frames, h, w), fps=30, audio=False)
    stream = netclients.Stream(python, ["--engine", str(engine), "--video", str(video), "--check-every", "30",
                                        "-o", "rtsp://127.0.0.1:0/sr", "-o", "http://127.0.0.1:0"], tmp)
    results: dict = {}
    browser = stalled = None
    try:
        url, base = stream.served_url("rtsp"), stream.served_url("http")
        time.sleep(1.0)
        results["no viewer"] = window(base, args.window, stream.proc.pid)
        reader = Reader(url)
        reader.start()
        while reader.count < 5:
            time.sleep(0.1)
        n0 = reader.count
        results["1 RTSP client"] = window(base, args.window, stream.proc.pid)
        results["1 RTSP client"]["client_fps"] = round((reader.count - n0) / args.window, 2)
        stalled = netclients.stalled_rtsp_client(url)
        time.sleep(1.0)
        n0 = reader.count
        results["+ 1 RTSP client that never reads"] = window(base, args.window, stream.proc.pid)
        results["+ 1 RTSP client that never reads"]["client_fps"] = round((reader.count - n0) / args.window, 2)
        stalled.close()
        reader.stop.set()
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            profile = tempfile.mkdtemp(prefix="edgesr-bench-chromium-")
            browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                        f"--user-data-dir={profile}", "--remote-debugging-port=0", base],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3.0)
            results["browser on the live view (no RTSP client)"] = window(base, args.window, stream.proc.pid)
        results["stream figures at the end"] = {k: v for k, v in figures(base).items()
                                                if k in ("frames_out", "fps", "dropped")}
    finally:
        if browser is not None:
            browser.terminate()
            browser.wait(timeout=30)
        if stalled is not None:
            stalled.close()
        code, out, err = stream.stop()
    results["stream exit"] = {"code": code, "summary": out.strip().splitlines()[0] if out.strip() else err[-500:]}
    base_fps = results["no viewer"]["fps"]
    for k, v in results.items():
        if isinstance(v, dict) and "fps" in v and k != "stream figures at the end":
            v["ratio_to_no_viewer"] = round(v["fps"] / base_fps, 3) if base_fps else None
    encoder = "nvv4l2h264enc" if "nvv4l2h264enc" in stream.stderr() else "x264enc"
    return {"machine": f"{platform.machine()}, {platform.processor() or '?'}; stream, clients and browser share "
                       "the cores the script is given (taskset)", "input_hw": [h, w], "output_hw": [4 * h, 4 * w],
            "engine": "edgesr.testing.tinymodel tiny x4 (fp16 weights), ONNX Runtime CPU", "rtsp_encoder": encoder,
            "window_s": args.window, "results": results}


def screenshot(args: argparse.Namespace, tmp: Path) -> None:
    """docs/streaming.md's picture: the shipped model on a Set14 photo, bicubic | SR, PSNR banner and figures."""
    from PIL import Image

    from edgesr.imageops import load_image, save_image

    data = Path(args.data)
    hr = load_image(data / "comic.png")[:, :, :]
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
    lr = np.asarray(Image.fromarray(hr).resize((hr.shape[1] // 4, hr.shape[0] // 4), Image.BICUBIC))
    folder = tmp / "still"
    folder.mkdir()
    save_image(folder / "f0000.png", lr)
    for i in range(1, 400):  # a still scene: the same photo, 400 frames
        (folder / f"f{i:04d}.png").hardlink_to(folder / "f0000.png")
    from edgesr.pretrained import default_onnx

    engine = tmp / "edge_s.fp16.engine"  # the shipped model as an FP16 engine: checked against its FP32 ONNX
    subprocess.run([sys.executable, "-m", "edgesr", "build-engine", str(default_onnx()), "--fp16", "--backend",
                    "onnxruntime", "-o", str(engine)], check=True, capture_output=True)
    stream = netclients.Stream(sys.executable, ["--engine", str(engine), "--source", str(folder), "--realtime",
                                                "--check-every", "5",
                                                "--min-psnr", "40", "-o", "http://127.0.0.1:0"], tmp)
    try:
        base = stream.served_url("http")
        while figures(base)["psnr"]["checks"] < 3:
            time.sleep(0.5)
        size = (4 * lr.shape[1] * 2 + 380, max(4 * lr.shape[0] + 70, 470))
        shot = netclients.screenshot(netclients.find_chromium(), base + "?view=compare", tmp / "shot.png", size)
    finally:
        stream.stop()
    img = Image.open(shot).convert("RGB")
    img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = Path(args.screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, optimize=True)
    print(f"{out} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=6000)
    ap.add_argument("--hw", default="90x160", help="input HxW (the output is x4)")
    ap.add_argument("--window", type=float, default=5.0, help="seconds per measurement window")
    ap.add_argument("--out", default=str(HERE / "results" / "netout_fps.json"))
    ap.add_argument("--screenshot", help="write the live-view screenshot here instead of measuring")
    data = os.environ.get("EDGESR_TEST_DATA", str(HERE.parents[1] / "shared" / "data"))
    ap.add_argument("--data", default=f"{data}/Set14", help="folder with comic.png (Set14)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgesr-netout-") as t:
        if args.screenshot:
            screenshot(args, Path(t))
            return
        try:
            report = measure(args, Path(t))
        except Unavailable as exc:
            raise SystemExit(f"cannot measure: {exc}") from None
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, v in report["results"].items():
        print(f"{name:45s} {v}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()

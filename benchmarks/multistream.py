"""Many sources, one engine (issue 22): 1, 2, 4 and 8 sources of the same clip through ONE `edgesr stream`
(frames batched across streams) against the same number of separate `edgesr stream` processes.

Reported per configuration: aggregate fps (all frames written / the run's stream time, engine loading
excluded; for separate processes the longest of their stream times, as they run side by side), per-stream
end-to-end latency p50 / p95 (ms, read to written; the mean over streams), peak RSS of all processes and the
memory each extra stream costs. ONNX Runtime on this machine's CPU; the model is the shipped edge_s x4 ONNX
unless --model is given. Writes a Markdown table (stdout and --out) with the machine's load beside it.

    python benchmarks/multistream.py --frames 40 --size 48x64 --out benchmarks/results/multistream.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_clip(path: Path, frames: int, h: int, w: int, rate: float = 30) -> Path:
    """A moving gradient with a moving square: video-like, every frame different."""
    import av

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(rate).limit_denominator(1000))
        s.height, s.width, s.pix_fmt = h, w, "yuv420p"
        s.options = {"crf": "18", "preset": "veryfast"}
        for i in range(frames):
            img = np.stack([128 + 100 * np.sin(xx / 9 + i * 0.15), 128 + 100 * np.cos(yy / 7 - i * 0.1),
                            128 + 100 * np.sin((xx + yy) / 11 + i * 0.05)], -1)
            y0, x0 = (i // 2) % (h - 8), (i // 3) % (w - 8)
            img[y0:y0 + 8, x0:x0 + 8] = (240, 30, 30)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def edgesr_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "edgesr", "stream", *map(str, args)]


def run_all(cmds: list[list[str]]) -> tuple[float, int, float]:
    """Run the commands side by side; (wall seconds, summed peak RSS in bytes, CPU seconds of all)."""
    t0 = time.perf_counter()
    procs = {subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO).pid: c for c in cmds}
    rss, cpu = 0, 0.0
    while procs:
        pid, status, usage = os.wait4(-1, 0)
        if pid in procs:
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"failed: {' '.join(procs[pid])}")
            rss += usage.ru_maxrss * 1024  # KiB on Linux
            cpu += usage.ru_utime + usage.ru_stime
            del procs[pid]
    return time.perf_counter() - t0, rss, cpu


def run_one(clip: Path, n: int, work: Path, common: list[object], batch_timeout: float) -> dict[str, float]:
    """n sources through one process."""
    rep = work / f"one{n}.json"
    wall, rss, cpu = run_all([edgesr_cmd(*[a for _ in range(n) for a in ("--source", clip)], *common, "--report", rep,
                                         "--batch-timeout", batch_timeout)])
    r = json.loads(rep.read_text())
    streams = r.get("streams") or [{"latency_ms": {k: r["latency_ms"]["end_to_end"][k] for k in ("p50", "p95")}}]
    return {
        "fps": r["frames_out"] / r["duration_s"], "wall": wall, "rss": rss, "cpu": cpu / r["frames_out"],
        "cores": cpu / wall, "p50": float(np.mean([s["latency_ms"]["p50"] for s in streams])),
        "p95": float(np.mean([s["latency_ms"]["p95"] for s in streams])),
        "batch": (r.get("batches") or {"mean": 1.0})["mean"], "load": os.getloadavg()[0],
    }


def run_separate(clip: Path, n: int, work: Path, common: list[object]) -> dict[str, float]:
    """n separate processes, one source each, side by side."""
    reps = [work / f"sep{n}_{k}.json" for k in range(n)]
    wall, rss, cpu = run_all([edgesr_cmd("--source", clip, *common, "--report", p) for p in reps])
    rs = [json.loads(p.read_text()) for p in reps]
    return {
        "fps": sum(x["frames_out"] for x in rs) / max(x["duration_s"] for x in rs), "wall": wall, "rss": rss,
        "cpu": cpu / sum(x["frames_out"] for x in rs), "cores": cpu / wall,
        "p50": float(np.mean([x["latency_ms"]["end_to_end"]["p50"] for x in rs])),
        "p95": float(np.mean([x["latency_ms"]["end_to_end"]["p95"] for x in rs])),
        "batch": 1.0, "load": os.getloadavg()[0],
    }


def measure(
    model: Path, clip: Path, n: int, work: Path, batch_timeout: float, paced: bool, repeat: int
) -> dict[str, dict[str, float]]:
    """One process and separate processes, interleaved (the order alternates), ``repeat`` times each; the
    median of every figure."""
    common: list[object] = ["-e", model, "--check-every", 0, "-q", "-o", "none", *(["--realtime"] if paced else [])]
    runs: dict[str, list[dict[str, float]]] = {"one": [], "sep": []}
    for k in range(repeat):
        for how in (("one", "sep") if k % 2 == 0 else ("sep", "one")):
            runs[how].append(run_one(clip, n, work, common, batch_timeout) if how == "one"
                             else run_separate(clip, n, work, common))
    return {how: {key: float(np.median([r[key] for r in rs])) for key in rs[0]} for how, rs in runs.items()}


def table(rows: list[str]) -> list[str]:
    return [
        "| sources | how | aggregate fps | latency p50 (ms) | latency p95 (ms) | frames per engine call "
        "| peak RSS, all (MiB) | MiB per extra stream | wall incl. start-up (s) "
        "| CPU s per frame (all, incl. start-up) | cores used | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def phase(args: argparse.Namespace, clip: Path, work: Path, paced: bool) -> list[str]:
    rows, base = [], {}
    for n in map(int, args.streams.split(",")):
        m = measure(args.model, clip, n, work, args.batch_timeout, paced, args.repeat)
        for how, label in (("one", "one process, batched"), ("sep", "separate processes")):
            x = m[how]
            base.setdefault(how, x["rss"])
            extra = f"{(x['rss'] - base[how]) / (n - 1) / 2**20:.0f}" if n > 1 else "-"
            rows.append(f"| {n} | {label} | {x['fps']:.2f} | {x['p50']:.0f} | {x['p95']:.0f} | {x['batch']:.2f} "
                        f"| {x['rss'] / 2**20:.0f} | {extra} | {x['wall']:.1f} | {x['cpu']:.3f} | {x['cores']:.2f} "
                        f"| {x['load']:.1f} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "edgesr" / "weights" / "edgesr_edge_s_x4.onnx")
    ap.add_argument("--frames", type=int, default=24, help="frames per stream, throughput run (as fast as it goes)")
    ap.add_argument("--size", default="48x64", help="HxW of the clip")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("--batch-timeout", type=float, default=10.0, help="ms")
    ap.add_argument("--rate", type=float, default=0.25, help="fps of each stream in the latency run (--realtime): "
                    "pick it so that sources x rate stays below what the engine does")
    ap.add_argument("--paced-frames", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration (interleaved); medians")
    ap.add_argument("--only", choices=("throughput", "latency"), help="run one of the two tables")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    h, w = map(int, args.size.split("x"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fast = [] if args.only == "latency" else phase(args, write_clip(work / "clip.mp4", args.frames, h, w), work,
                                                         paced=False)
        paced = [] if args.only == "throughput" else phase(
            args, write_clip(work / "paced.mp4", args.paced_frames, h, w, args.rate), work, paced=True)
    load_after = os.getloadavg()
    text = "\n".join([
        f"Model {args.model.name}, clip {h}x{w} (x4 -> {4 * h}x{4 * w}), ONNX Runtime CPU, {os.cpu_count()} cores, "
        f"--batch-timeout {args.batch_timeout:g} ms. Load average (1/5/15 min) before "
        f"{'/'.join(f'{v:.1f}' for v in load_before)}, after {'/'.join(f'{v:.1f}' for v in load_after)}.",
        "",
        f"Throughput: {args.frames} frames per stream, read as fast as the engine takes them (latency here is "
        "mostly queueing: a file is read ahead). On a shared CPU the scheduler gives N processes (each with its own "
        "ONNX Runtime threads) a larger share of the machine than one process: CPU seconds per frame is the "
        "load-independent cost.",
        "",
        *(table(fast) if fast else ["(not run: --only latency)"]),
        "",
        f"Latency: {args.paced_frames} frames per stream paced at {args.rate:g} fps each (--realtime, as cameras "
        "deliver), so the engine keeps up.",
        "",
        *(table(paced) if paced else ["(not run: --only throughput)"]),
    ]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

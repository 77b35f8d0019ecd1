"""Stream throughput vs the bare runner (must-show 2): is the engine the bottleneck, not Python?

For the same decoded frames of a real (generated) video:
  bare    the runner's ``infer`` loop on frames already decoded and converted (engine time only)
  none    ``edgesr stream --output none`` (decode, pre-process, infer, post-process, overlapped in threads)
  mp4     ``edgesr stream --output out.mp4`` (+ H.264 encoding with libx264 and audio passthrough)
Rounds alternate the three so machine noise hits them alike; the median of the rounds is reported.

    .venv/bin/python benchmarks/stream_throughput.py                 # edge_xs x4, 64x96 LR frames
    .venv/bin/python benchmarks/stream_throughput.py --model m.onnx --size 90x160 --frames 60

Without ``--model`` the deployed (BN-folded) SRResNet graph of the preset is built with random weights
(edgesr.testing.tinymodel): the compute of the real model, no torch needed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from edgesr.artifact import parse_hw
from edgesr.imageops import to_nchw
from edgesr.runtime import open_runner
from edgesr.runtime.check import CheckConfig
from edgesr.runtime.stream import StreamSettings, run_stream
from edgesr.spec import PRESETS
from edgesr.testing import tinymodel


def decode(video: Path) -> list:
    import av

    with av.open(str(video)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def bare_fps(model: Path, frames: list, threads: int | None, cpu: list[float]) -> float:
    xs = [to_nchw(f) for f in frames]
    c0 = time.process_time()  # like the stream's: engine loading included, the first (warm-up) frame timed
    with open_runner(model, threads=threads) as r:
        t0 = time.perf_counter()
        for x in xs:
            r.infer(x)
        fps = len(xs) / (time.perf_counter() - t0)
    cpu.append((time.process_time() - c0) / len(xs))
    return fps


def stream_fps(model: Path, video: Path, output: str, threads: int | None, busy: list[float],
               cpu: list[float]) -> float:
    c0 = time.process_time()  # all threads of this process: decode, convert, encode and the engine
    report = run_stream(
        StreamSettings(engine=model, source=str(video), output=output, check=CheckConfig(every=0), threads=threads,
                       quiet=True)
    )
    cpu.append((time.process_time() - c0) / report.frames_out)
    assert report.frames_out == report.frames_in, report
    busy.append(float(report.engine_busy_fraction))
    return float(report.fps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="edgesr ONNX or engine (default: random-weight preset graph)")
    ap.add_argument("--preset", default="edge_xs", choices=sorted(PRESETS))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--size", default="64x96", help="LR frame size HxW")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: ORT's)")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()
    h, w = parse_hw(args.size)
    with tempfile.TemporaryDirectory(prefix="edgesr-bench-") as tmp:
        t = Path(tmp)
        spec = PRESETS[args.preset](args.scale)
        model = args.model or tinymodel.srresnet_onnx(t / f"{args.preset}.onnx", spec)
        video = tinymodel.write_video(t / "in.mp4", tinymodel.test_frames(args.frames, h, w), audio=True)
        frames = decode(video)
        results: dict[str, list[float]] = {"bare": [], "none": [], "mp4": []}
        busy: dict[str, list[float]] = {"none": [], "mp4": []}
        cpu: dict[str, list[float]] = {"bare": [], "none": [], "mp4": []}
        for r in range(args.rounds):
            results["bare"].append(bare_fps(model, frames, args.threads, cpu["bare"]))
            results["none"].append(stream_fps(model, video, "none", args.threads, busy["none"], cpu["none"]))
            results["mp4"].append(stream_fps(model, video, str(t / "out.mp4"), args.threads, busy["mp4"], cpu["mp4"]))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} fps" for k, v in results.items()), flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    paired = {k: statistics.median(s / b for s, b in zip(results[k], results["bare"], strict=True))
              for k in ("none", "mp4")}
    summary = {
        "model": str(args.model or f"{args.preset} x{args.scale} (random weights)"),
        "lr_size": [h, w],
        "frames": args.frames,
        "rounds": args.rounds,
        "fps_median": med,
        "fps_all": results,
        "stream_none_vs_bare": med["none"] / med["bare"],
        "stream_mp4_vs_bare": med["mp4"] / med["bare"],
        "paired_ratio_median": paired,  # stream/bare within each round, then the median: robust to slow drifts
        "engine_busy_fraction_median": {k: statistics.median(v) for k, v in busy.items()},
        # CPU seconds per frame (all threads): what the pipeline adds to the engine's own cost, independent of
        # other load on the machine. On a CPU-bound box, bare/stream CPU bounds the stream/bare fps ratio.
        "cpu_s_per_frame_median": {k: statistics.median(v) for k, v in cpu.items()},
        "cpu_bound_ratio": {k: statistics.median(cpu["bare"]) / statistics.median(cpu[k]) for k in ("none", "mp4")},
        "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Soak (must-show 3): stream thousands of small frames to an .mp4 with reference checks on, and show
that memory stays flat: RSS after warm-up vs at the end (and its peak), sampled as frames go by.

    .venv/bin/python benchmarks/stream_soak.py                    # 2400 frames, 24x32 LR, tiny x4 model
    .venv/bin/python benchmarks/stream_soak.py --frames 10000 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from edgesr.runtime.check import CheckConfig
from edgesr.runtime.stats import StreamStats
from edgesr.runtime.stream import StreamSettings, run_stream
from edgesr.testing import tinymodel


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2400)
    ap.add_argument("--size", type=int, nargs=2, default=(24, 32), metavar=("H", "W"))
    ap.add_argument("--warmup", type=int, default=200, help="frames before the 'start' RSS sample")
    ap.add_argument("--output", default="mp4", choices=["mp4", "none"], help="sink: an .mp4 file or none")
    ap.add_argument("--fragmented", action="store_true", help="fragmented .mp4 (the default for live sources)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    samples: list[tuple[int, float]] = []

    def progress(stats: StreamStats) -> None:
        samples.append((stats.frames_out, rss_mib()))

    with tempfile.TemporaryDirectory(prefix="edgesr-soak-") as tmp:
        t = Path(tmp)
        print(f"writing a {args.frames}-frame test video...", flush=True)
        video = tinymodel.write_video(t / "in.mp4", tinymodel.test_frames(args.frames, *args.size), audio=True)
        ref = tinymodel.tiny_onnx(t / "ref.onnx")
        engine = tinymodel.ort_engine(
            t / "e" / "m.engine", tinymodel.tiny_onnx(t / "fp16.onnx", fp16_weights=True), reference=ref,
            precision="fp16",
        )
        t0 = time.perf_counter()
        output = str(t / "out.mp4") if args.output == "mp4" else "none"
        report = run_stream(
            StreamSettings(engine=engine, source=str(video), output=output, check=CheckConfig(every=30), quiet=True,
                           progress=progress, fragmented_mp4=args.fragmented)
        )
        wall = time.perf_counter() - t0
    samples.append((report.frames_out, rss_mib()))
    start = next((s for s in samples if s[0] >= args.warmup), samples[0])
    summary = {
        "frames_in": report.frames_in,
        "frames_out": report.frames_out,
        "fps": report.fps,
        "wall_s": round(wall, 1),
        "psnr_checks": report.psnr["checks"],
        "psnr_skipped_busy": report.psnr["skipped_reference_busy"],
        "rss_mib_after_warmup": {"frame": start[0], "rss": round(start[1], 1)},
        "rss_mib_end": {"frame": samples[-1][0], "rss": round(samples[-1][1], 1)},
        "rss_mib_peak": round(max(r for _, r in samples), 1),
        "rss_growth_mib": round(samples[-1][1] - start[1], 1),
        "rss_trace": [(f, round(r, 1)) for f, r in samples[:: max(1, len(samples) // 20)]],
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

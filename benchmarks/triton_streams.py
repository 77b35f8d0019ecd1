"""Concurrent streams through one Triton server (dynamic batching) against direct local runners.

For N = 1, 2, 4 streams, each a thread sending the same frames one by one (as `edgesr stream` does), through
  local   N runners of their own (ONNX Runtime in this process, one engine per stream, threads split over the
          cores), the way N separate `edgesr stream` processes run today
  triton  one `edgesr serve` (PyTriton, ONNX Runtime with all the cores) that N TritonRunners share, its
          dynamic batcher joining same-shape requests into batches of up to --max-batch
Rounds alternate local and triton so machine noise hits them alike; aggregate fps and the per-frame latency
p50/p95 are reported with the load average, in benchmarks/results/triton_streams.json.

    .venv/bin/python benchmarks/triton_streams.py

``--serve-venv``: a venv with PyTriton and edgesr (docs/triton.md). Default: the one the tests use, built here
on first use (``edgesr.testing.triton_server``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edgesr.artifact import parse_hw
from edgesr.runtime import open_runner
from edgesr.testing.triton_server import free_port, pytriton_venv

REPO = Path(__file__).resolve().parents[1]


def build_engine(onnx: Path, out: Path, max_batch: int) -> Path:
    cmd = [sys.executable, "-m", "edgesr", "build-engine", str(onnx), "--backend", "onnxruntime",
           "-o", str(out), "--max-batch", str(max_batch), "--min-psnr", "0"]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def run_streams(runners: list, frames: int, x: np.ndarray) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(r) -> None:  # type: ignore[no-untyped-def]
        mine = []
        for _ in range(frames):
            t0 = time.perf_counter()
            r.infer(x)
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=one, args=(r,)) for r in runners]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(runners) * frames / (time.perf_counter() - t0), latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve-venv", type=Path, default=None)
    ap.add_argument("--model", type=Path, default=REPO / "edgesr" / "weights" / "edgesr_edge_s_x4.onnx")
    ap.add_argument("--size", default="90x160", help="LR HxW of the frames")
    ap.add_argument("--frames", type=int, default=12, help="frames per stream per round")
    ap.add_argument("--streams", default="1,2,4")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "triton_streams.json")
    args = ap.parse_args()
    serve_venv = args.serve_venv or pytriton_venv()
    h, w = parse_hw(args.size)
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="edgesr-triton-bench-") as tmp:
        engine = build_engine(args.model, Path(tmp) / "sr.onnx", args.max_batch)
        grpc, http = free_port(), free_port()
        serve = subprocess.Popen(
            [str(serve_venv / "bin" / "edgesr"), "serve", "--engine", str(engine), "--port", str(grpc),
             "--http-port", str(http), "--threads", str(cores), "--queue-delay-us", "5000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            uri = f"triton://127.0.0.1:{grpc}/edgesr"
            for _ in range(600):
                try:
                    open_runner(uri).close()
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.5)
            rows = []
            for n in (int(v) for v in args.streams.split(",")):
                results: dict[str, list] = {"local": [], "triton": []}
                for _ in range(args.rounds):
                    local = [open_runner(engine, threads=max(1, cores // n)) for _ in range(n)]
                    results["local"].append(run_streams(local, args.frames, x))
                    for r in local:
                        r.close()
                    remote = [open_runner(uri) for _ in range(n)]
                    results["triton"].append(run_streams(remote, args.frames, x))
                    for r in remote:
                        r.close()
                for kind, runs in results.items():
                    lat = [v for _, lats in runs for v in lats]
                    row = {
                        "streams": n, "via": kind, "fps": round(statistics.median(f for f, _ in runs), 2),
                        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1),
                        "latency_p95_ms": round(float(np.percentile(lat, 95)), 1),
                        "loadavg_1m": round(os.getloadavg()[0], 2),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            serve.send_signal(signal.SIGTERM)
            _, err = serve.communicate(timeout=60)
        batching = [ln for ln in err.splitlines() if "served" in ln]
    result = {"model": args.model.name, "lr_size": args.size, "max_batch": args.max_batch, "cores": cores,
              "rows": rows, "server": batching[-1] if batching else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["server"])


if __name__ == "__main__":
    main()

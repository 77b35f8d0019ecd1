"""`edgesr bench` on the shipped model at the standard sizes, plus the speed ratios of issue 5.

    .venv/bin/python benchmarks/bench_shipped.py                      # shipped edge_s x4, 64x64 / 180x320 / 270x480
    .venv/bin/python benchmarks/bench_shipped.py --runs 10 --model runs/x/last.pt --out runs/bench_x

Prints the machine, the full table, and per size: ONNX Runtime FP32 vs PyTorch eager FP32 (goal: >= 1.0x),
FP16 and INT8 vs ONNX Runtime FP32 with their PSNR vs FP32. Asserts nothing (speed depends on the machine
and its load: the load average at the start is printed with the machine).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from edgesr.bench.report import log_console, print_result
from edgesr.bench.run import BenchConfig, BenchResult, run_bench


def ratio(result: BenchResult, size: tuple[int, int], num: tuple[str, ...], den: tuple[str, ...]) -> str:
    """den median / num median ("how many times faster num is"), or why it is missing."""
    a, b = result.find(size, *num), result.find(size, *den)
    if a is None or b is None or not (a.ok and b.ok) or a.timing is None or b.timing is None:
        return "n/a (a row did not run)"
    return f"{b.timing.median_ms / a.timing.median_ms:.2f}x"


def psnr(result: BenchResult, size: tuple[int, int], row: tuple[str, ...]) -> str:
    r = result.find(size, *row)
    if r is None or r.psnr_vs_fp32 is None:
        return "n/a"
    return "identical" if r.psnr_vs_fp32 == float("inf") else f"{r.psnr_vs_fp32:.2f} dB"


def print_ratios(result: BenchResult, console: Console) -> None:
    console.print("\n[bold]ratios[/bold] (median latency; > 1 means the first is faster)")
    for size in dict.fromkeys(r.size for r in result.rows):
        s = f"{size[0]}x{size[1]}"
        ort = ("onnxruntime", "fp32")
        vs_torch = ratio(result, size, ort, ("pytorch", "fp32"))
        console.print(f"  {s}: ONNX Runtime FP32 vs PyTorch eager FP32 {vs_torch} (goal >= 1.0)")
        for p in ("fp16", "int8"):
            console.print(f"  {s}: ONNX Runtime {p.upper()} vs ONNX Runtime FP32 "
                          f"{ratio(result, size, ('onnxruntime', p), ort)}, PSNR vs FP32 "
                          f"{psnr(result, size, ('onnxruntime', p))}")
        for p in ("fp16", "int8"):
            trt = result.find(size, "tensorrt", p)
            if trt is not None and trt.ok:
                console.print(f"  {s}: TensorRT {p.upper()} vs TensorRT FP32 "
                              f"{ratio(result, size, ('tensorrt', p), ('tensorrt', 'fp32'))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="checkpoint or FP32 ONNX (default: the shipped model)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per row and size (CPU: 1080p rows take seconds)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_shipped"))
    args = ap.parse_args()
    console = log_console()
    cfg = BenchConfig(model=args.model, warmup=args.warmup, runs=args.runs, out=args.out)
    result = run_bench(cfg, say=lambda m: console.print(f"[dim]{m}[/dim]", highlight=False))
    print_result(result, console)
    print_ratios(result, console)
    console.print(f"bench took {result.duration_s:.0f} s")


if __name__ == "__main__":
    main()

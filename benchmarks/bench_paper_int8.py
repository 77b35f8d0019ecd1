"""INT8 vs ONNX Runtime FP32 for the paper's SRResNet (16 blocks, 64 maps) on this CPU, with PSNR vs FP32.

    .venv/bin/python benchmarks/bench_paper_int8.py                       # random-init srresnet x4, 90x160 input
    .venv/bin/python benchmarks/bench_paper_int8.py --size 180x320 --runs 5 --trained runs/srresnet/last.pt

SPEED is measured on a randomly initialised SRResNet x4 (the compute does not depend on the weights, so
random weights are fine for timing). PSNR vs FP32 of a random model says little about a trained one, so
it is measured on a TRAINED srresnet checkpoint when one is found (--trained, else the first
runs/*/{best,last}.pt holding the srresnet preset, else edgesr/weights/edgesr_srresnet_x4.pt); without one
the script says so. The goal in issue 5: INT8 >= 1.3x ONNX Runtime FP32 with PSNR vs FP32 >= 38 dB.
Rows and numbers come from `edgesr bench` (edgesr.bench.run), ONNX Runtime rows only.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench_shipped import psnr, ratio
from rich.console import Console

from edgesr.artifact import parse_hw
from edgesr.bench.report import log_console, print_result
from edgesr.bench.run import BenchConfig, BenchResult, run_bench

REPO = Path(__file__).resolve().parents[1]


def random_srresnet(folder: Path) -> Path:
    import torch

    from edgesr.spec import srresnet
    from edgesr.train.arch import build_generator
    from edgesr.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_generator(srresnet(4)).eval()
    state = {"spec": model.spec, "generator": model.state_dict(), "phase": "srresnet", "step": 0}
    return save_checkpoint(folder / "srresnet_random.pt", state)


def find_trained(given: Path | None) -> Path | None:
    if given is not None:
        return given
    from edgesr.train.checkpoint import load_checkpoint

    candidates = sorted(REPO.glob("runs/*/best.pt")) + sorted(REPO.glob("runs/*/last.pt"))
    candidates.append(REPO / "edgesr" / "weights" / "edgesr_srresnet_x4.pt")
    for path in candidates:
        try:
            if path.is_file() and load_checkpoint(path)["spec"].preset == "srresnet":
                return path
        except Exception:  # unreadable or foreign files are simply not candidates
            continue
    return None


def bench(model: Path, size: tuple[int, int], args: argparse.Namespace, out: Path, console: Console) -> BenchResult:
    cfg = BenchConfig(
        model=model, sizes=(size,), backends=("onnxruntime",), precisions=("fp32", "int8"),
        warmup=args.warmup, runs=args.runs, out=out, calib_images=args.calib_images,
    )
    result = run_bench(cfg, say=lambda m: console.print(f"[dim]{m}[/dim]", highlight=False))
    print_result(result, console)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="90x160", help="LR input HxW (default 90x160 -> 360x640 output)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calib-images", type=int, default=16)
    ap.add_argument("--trained", type=Path, default=None, help="a trained srresnet checkpoint for the PSNR")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_paper_int8"))
    args = ap.parse_args()
    size = parse_hw(args.size)
    console = log_console()
    with tempfile.TemporaryDirectory(prefix="edgesr-paper-") as tmp:
        console.print("[bold]speed: srresnet x4 with random weights[/bold] (timing does not depend on weights)")
        speed = bench(random_srresnet(Path(tmp)), size, args, args.out / "random", console)
    int8, fp32 = ("onnxruntime", "int8"), ("onnxruntime", "fp32")
    console.print(f"\nsrresnet x4 @ {args.size}: INT8 vs ONNX Runtime FP32 {ratio(speed, size, int8, fp32)} "
                  "(goal >= 1.3x); random-weight PSNR vs FP32 " + psnr(speed, size, int8) + " (not meaningful)")
    trained = find_trained(args.trained)
    if trained is None:
        console.print("no trained srresnet checkpoint found (runs/*/best.pt, runs/*/last.pt, edgesr/weights): "
                      "PSNR vs FP32 of a trained paper model NOT measured; pass --trained CKPT")
        return
    console.print(f"\n[bold]accuracy: trained {trained}[/bold]")
    acc = bench(trained, size, args, args.out / "trained", console)
    console.print(f"\ntrained srresnet x4 @ {args.size}: INT8 PSNR vs FP32 {psnr(acc, size, int8)} (goal >= 38 dB), "
                  f"INT8 vs ONNX Runtime FP32 {ratio(acc, size, int8, fp32)}")


if __name__ == "__main__":
    main()

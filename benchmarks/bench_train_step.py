"""Training step time per preset: what one `edgesr train` step (srresnet phase) costs on this machine.

    .venv/bin/python benchmarks/bench_train_step.py                  # every preset, batch 16, crop 96
    .venv/bin/python benchmarks/bench_train_step.py --presets edge_s --batch 16 --crop 64 --steps 10

Each step is the training loop's own: a batch from ``PatchSampler`` over the built-in sample photos
(or --data), then ``PixelStep`` (forward, L1 loss, backward, Adam) with the ``--amp auto`` choice
(bf16 only where the hardware has it). Warm-up steps are not timed; the median and the mean of the
timed steps are printed with samples/s, and how many steps fit in 25 minutes. Prints the machine first.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from edgesr.machine import describe_machine, machine_line
from edgesr.spec import PRESETS, preset
from edgesr.train.data import PatchSampler, default_train_dir, load_pairs
from edgesr.train.distributed import pick_device
from edgesr.train.schedule import autocast_dtype
from edgesr.train.steps import PixelStep


def time_preset(name: str, args: argparse.Namespace, pairs: list, device: torch.device) -> dict[str, float]:
    from edgesr.train.arch import build_generator

    torch.manual_seed(0)
    spec = preset(name, args.scale)
    model = build_generator(spec).to(device).train()
    step = PixelStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), "l1", device,
                     autocast_dtype(args.amp, device))
    sampler = PatchSampler(pairs, args.scale, args.crop, seed=0)
    times, data_times = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        lr, hr = sampler.next_batch(args.batch)
        t1 = time.perf_counter()
        step(torch.from_numpy(lr).to(device), torch.from_numpy(hr).to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i >= args.warmup:
            times.append(t2 - t0)
            data_times.append(t1 - t0)
    med = statistics.median(times)
    return {
        "params_m": spec.num_params() / 1e6,
        "median_ms": med * 1e3,
        "mean_ms": statistics.mean(times) * 1e3,
        "data_ms": statistics.median(data_times) * 1e3,
        "samples_s": args.batch / med,
        "steps_25min": 25 * 60 / med,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96, help="HR crop side")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"))
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--data", default=None, help="training images (default: the built-in samples)")
    args = ap.parse_args()
    device = pick_device(args.device)
    print(f"machine: {machine_line(describe_machine())}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    amp = autocast_dtype(args.amp, device)
    print(f"device {device}, amp {amp or 'off'}, batch {args.batch}, crop {args.crop}, x{args.scale}, "
          f"{args.warmup} warm-up + {args.steps} timed steps (srresnet phase: L1 + Adam)")
    pairs = load_pairs(args.data or default_train_dir(), args.scale, min_lr=args.crop // args.scale)
    print(f"{'preset':10} {'params':>8} {'median ms':>10} {'mean ms':>9} {'data ms':>8} {'samples/s':>10} "
          f"{'steps/25min':>12}")
    for name in [p.strip() for p in args.presets.split(",") if p.strip()]:
        r = time_preset(name, args, pairs, device)
        print(f"{name:10} {r['params_m']:7.3f}M {r['median_ms']:10.1f} {r['mean_ms']:9.1f} {r['data_ms']:8.1f} "
              f"{r['samples_s']:10.1f} {r['steps_25min']:12.0f}")


if __name__ == "__main__":
    main()

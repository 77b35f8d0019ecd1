"""LR generation of ``--degradation real`` per core, against what the model consumes (one thread each).

Measures, at the training crop (``--crop``, default 64, batch 16) on T91 + BSD200 (shared data):
- images/s of the in-memory bicubic crops, of the real pipeline (stages 1-8, ``degrade``), and of the whole real
  batch (with the batched H.264 stage 9), single thread (cv2 and torch pinned to 1);
- the time of one training step of ``--preset`` (forward + backward + Adam, bf16 autocast where native) on one thread.
Prints JSON with the machine's load average before and after (the machine is shared: numbers move with it).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _rate(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", default=None)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--preset", default="edge_s")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from edgesr.spec import preset
    from edgesr.train.arch import build_generator
    from edgesr.train.data import PatchSampler, load_pairs
    from edgesr.train.degrade_real import RealDegradation, degrade
    from edgesr.train.schedule import autocast_dtype
    from edgesr.train.steps import PixelStep

    load_before = os.getloadavg()
    pairs = load_pairs(args.data or ["../shared/data/T91", "../shared/data/BSD200"], 4, min_lr=args.crop // 4)
    b, n = args.batch, args.batches
    clean = PatchSampler(pairs, 4, args.crop, 0)
    real = PatchSampler(pairs, 4, args.crop, 0, RealDegradation())
    no_h264 = PatchSampler(pairs, 4, args.crop, 0, RealDegradation.from_table({"h264_prob": 0.0}))
    t_clean = _rate(lambda: clean.next_batch(b), n)
    t_real = _rate(lambda: real.next_batch(b), n)
    t_no264 = _rate(lambda: no_h264.next_batch(b), n)
    rng = np.random.default_rng(0)
    window = pairs[0].hr[: args.crop + 32, : args.crop + 32]
    t_one = _rate(lambda: degrade(window, 4, RealDegradation(), rng), n * b)

    spec = preset(args.preset, 4, "bicubic")
    g = build_generator(spec)
    amp = autocast_dtype("auto", torch.device("cpu"))
    step = PixelStep(g, torch.optim.Adam(g.parameters(), 1e-4), "l1", torch.device("cpu"), amp)
    lr, hr = (torch.from_numpy(x) for x in clean.next_batch(b))
    t_step = _rate(lambda: step(lr, hr), max(5, n // 2))
    out = {
        "crop": args.crop, "batch": b, "preset": args.preset, "amp": str(amp),
        "images_per_s_one_core": {
            "bicubic_crops": round(b / t_clean), "real_stages_1_8_per_crop_with_context": round(1 / t_one),
            "real_batch_no_h264": round(b / t_no264), "real_batch_with_h264": round(b / t_real),
        },
        "ms_per_batch": {"bicubic": round(1e3 * t_clean, 1), "real": round(1e3 * t_real, 1),
                         "train_step": round(1e3 * t_step, 1)},
        "model_images_per_s_one_core": round(b / t_step),
        "real_generation_share_in_process": round(t_real / (t_real + t_step), 3),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

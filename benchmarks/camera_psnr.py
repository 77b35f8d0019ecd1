"""Y-PSNR of shipped/trained models and bicubic on clean and degraded (``edgesr eval --degrade``) HR sets.

Usage: python benchmarks/camera_psnr.py --data Set5 --data Set14 --model NAME_OR_PT ... [--level SPEC ...]
Prints a markdown table and writes JSON (--json). Reads the shared test sets; the product does not need them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

LEVELS = {  # name -> eval --degrade spec (see docs/camera-models.md)
    "clean": None,
    "mild": "blur=0.6,noise=2,jpeg=85",
    "medium": "blur=1.0,noise=5,jpeg=60",
    "strong": "blur=1.5,noise=10,jpeg=40",
    "h264": "blur=1.0,noise=5,h264=32",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--level", action="append", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from edgesr.degrade import degrade_pairs, parse_degrade
    from edgesr.metrics import min_eval_lr
    from edgesr.train.checkpoint import load_generator
    from edgesr.train.data import load_pairs
    from edgesr.train.evaluate import bicubic_upscaler, evaluate_pairs
    from edgesr.train.infer import upscale_image
    from edgesr.zoo import resolve

    levels = args.level or list(LEVELS)
    methods = {"bicubic": bicubic_upscaler(4)}
    for m in args.model:
        methods[m] = _upscaler(load_generator(resolve(m, "pt", "--model")), upscale_image)
    rows = []
    t0 = time.time()
    for data in args.data:
        clean = load_pairs(data, 4, min_lr=min_eval_lr(4), role="evaluation")
        for level in levels:
            spec = LEVELS.get(level, level)
            pairs = degrade_pairs(clean, 4, parse_degrade(spec)) if spec else clean
            for name, up in methods.items():
                r = evaluate_pairs(pairs, up, 4, name, with_ssim=False)
                rows.append({"data": Path(data).name, "level": level, "spec": spec or "clean", "method": name,
                             "psnr": round(r.mean_psnr, 3)})
                print(rows[-1], flush=True)
    print(f"# {time.time() - t0:.0f} s, load {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


def _upscaler(g, upscale_image):  # type: ignore[no-untyped-def]
    return lambda lr: upscale_image(g, lr)


if __name__ == "__main__":
    main()

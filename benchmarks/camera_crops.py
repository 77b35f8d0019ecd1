"""Side-by-side crops for docs/camera-models.md: bicubic | edge_s | edge_s_camera | HR on a degraded input.

Usage: python benchmarks/camera_crops.py IMAGE --degrade SPEC --box Y,X,H,W --out docs/img/NAME.png [--zoom 2]
The LR is ``edgesr eval --degrade SPEC``'s (same stages, same seed); crops are of the x4 outputs, enlarged by
``--zoom`` with nearest neighbour so pixels stay visible. Each label carries the whole image's Y-PSNR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--degrade", required=True)
    ap.add_argument("--box", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--zoom", type=int, default=2)
    args = ap.parse_args()
    from edgesr.degrade import degrade_image, parse_degrade
    from edgesr.demo.media import comparison_png
    from edgesr.imageops import mod_crop, read_image, upscale_bicubic
    from edgesr.metrics import sr_psnr_ssim
    from edgesr.train.checkpoint import load_generator
    from edgesr.train.infer import upscale_image
    from edgesr.zoo import resolve

    rgb, gray = read_image(args.image)
    hr = mod_crop(rgb, 4)
    lr = degrade_image(hr, 4, parse_degrade(args.degrade), Path(args.image).name)
    outs = {"bicubic": upscale_bicubic(lr, 4)}
    for name in ("edge_s", "edge_s_camera"):
        outs[name] = upscale_image(load_generator(resolve(name, "pt", "--model")), lr)
    y, x, h, w = (int(v) for v in args.box.split(","))
    crop = lambda img: np.repeat(np.repeat(img[y : y + h, x : x + w], args.zoom, 0), args.zoom, 1)  # noqa: E731
    panels = [(f"{k}: {sr_psnr_ssim(v, hr, 4, gray)[0]:.2f} dB", crop(v)) for k, v in outs.items()]
    panels.append(("HR", crop(hr)))
    comparison_png(Path(args.out), panels)
    print(args.out, [p[0] for p in panels])


if __name__ == "__main__":
    main()

"""HR training frames with camera overlays for ``edgesr train --phase qat --data DIR`` (docs/overlays.md).

Each frame: an HR crop of a training photo with an OSD/logo layer drawn at LR size and nearest-upscaled (the
camera burns it in at the resolution the engine receives; ``edgesr.synthetic``), or a colour-bar / test
pattern drawn at LR size and nearest-upscaled. Seeded. Usage:
    python benchmarks/qat_overlay_data.py OUT_DIR PHOTO_DIR [--count 80] [--scale 4] [--lr 80x120]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgesr import synthetic
from edgesr.imageops import list_images, load_image, save_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("photos", type=Path)
    ap.add_argument("--count", type=int, default=80)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--lr", default="80x120")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    h, w = (int(v) for v in a.lr.split("x"))
    s = a.scale
    rng = np.random.default_rng(a.seed)
    sources = synthetic.fonts()
    files = list_images(a.photos)
    a.out.mkdir(parents=True, exist_ok=True)
    for i in range(a.count):
        if i % 2 == 0:
            photo = load_image(files[int(rng.integers(len(files)))])
            hr = synthetic.photo_crop(photo, h * s, w * s, rng)
            layer = synthetic.overlay_layer(h, w, rng, sources)
            hr = synthetic.composite(hr, synthetic.upscale_layer(layer, s))
        else:
            kind = synthetic.GRAPHICS[(i // 2) % len(synthetic.GRAPHICS)]
            hr = synthetic.upscale_layer(synthetic.graphics(h, w, kind, rng, sources), s)
        save_image(a.out / f"synth_{i:03d}.png", hr)


if __name__ == "__main__":
    main()

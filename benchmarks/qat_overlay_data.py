"""Camera-overlay training frames for ``edgesr train --phase qat --data DIR`` (docs/overlays.md, docs/edge-preset.md).

Half the frames are a crop of a training photo with an OSD/logo layer drawn at LR size, half a colour-bar or test
pattern drawn at LR size (``edgesr.synthetic``: the camera burns both in at the resolution the engine receives).

- ``--paired`` (what edge_q's QAT used): a paired folder, ``OUT/hr`` and ``OUT/lr`` (``edgesr.train.data``). The LR
  frame is what the engine gets: the photo crop bicubic-downscaled with the layer composited on it at LR, sharp;
  graphics drawn at LR. HR: the photo crop with the layer nearest-upscaled on it; graphics nearest-upscaled.
  This is the recipe of the INT8 gate's overlay and graphics check frames (``export/camera_content.check_pairs``),
  here with other photos (the training set's, never the built-in holdout ones) and other seeds.
- ``--teacher FP32.onnx`` (with ``--paired``; what the shipped edge_q's QAT used): the HR of each synthetic frame is
  that model's own FP32 output for the LR frame, not the nearest-upscaled drawing. QAT on these frames teaches the
  INT8 pass to match FP32 on overlay and graphics content without teaching the model a new upscaling of them:
  nearest-upscaled targets taught it to draw text and edges as blocks, which cost a real slide (Set14 ppt3) 2.8 dB.
- without it: HR frames only (``OUT/synth_*.png``), the training loader makes each LR by bicubic downscaling, so
  the overlays reach the model blurred (what the earlier edge_s experiment used).

Seeded. Usage:
    python benchmarks/qat_overlay_data.py OUT_DIR PHOTO_DIR [--count 80] [--scale 4] [--lr 80x120] [--paired [--teacher FP32.onnx]]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgesr import synthetic
from edgesr.imageops import downscale, from_nchw, list_images, load_image, save_image, to_nchw
from edgesr.runtime import open_runner


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("photos", type=Path)
    ap.add_argument("--count", type=int, default=80)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--lr", default="80x120")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--paired", action="store_true", help="write OUT/hr and OUT/lr (LR overlays sharp, as the gate's)")
    ap.add_argument("--teacher", type=Path, default=None, help="FP32 ONNX: HR = its output for the LR frame")
    a = ap.parse_args()
    if a.teacher is not None and not a.paired:
        ap.error("--teacher needs --paired (the LR frame is the teacher's input)")
    runner = open_runner(a.teacher) if a.teacher is not None else None
    h, w = (int(v) for v in a.lr.split("x"))
    s = a.scale
    rng = np.random.default_rng(a.seed)
    sources = synthetic.fonts()
    files = list_images(a.photos)
    for sub in (("hr", "lr") if a.paired else ("",)):
        (a.out / sub).mkdir(parents=True, exist_ok=True)
    for i in range(a.count):
        if i % 2 == 0:
            photo = load_image(files[int(rng.integers(len(files)))])
            hr = synthetic.photo_crop(photo, h * s, w * s, rng)
            layer = synthetic.overlay_layer(h, w, rng, sources)
            lr = synthetic.composite(downscale(hr, s), layer)
            hr = synthetic.composite(hr, synthetic.upscale_layer(layer, s))
        else:
            kind = synthetic.GRAPHICS[(i // 2) % len(synthetic.GRAPHICS)]
            lr = synthetic.graphics(h, w, kind, rng, sources)
            hr = synthetic.upscale_layer(lr, s)
        if runner is not None:
            hr = from_nchw(runner.infer(to_nchw(lr)))[0]
        if a.paired:
            save_image(a.out / "hr" / f"synth_{i:03d}.png", hr)
            save_image(a.out / "lr" / f"synth_{i:03d}.png", lr)
        else:
            save_image(a.out / f"synth_{i:03d}.png", hr)


if __name__ == "__main__":
    main()

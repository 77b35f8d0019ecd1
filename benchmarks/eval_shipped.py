"""Set5 / Set14 x4 Y-PSNR / SSIM of the shipped model beside bicubic and the SRGAN paper's SRResNet.

    .venv/bin/python benchmarks/eval_shipped.py                            # data from $EDGESR_DATA or ../shared/data
    .venv/bin/python benchmarks/eval_shipped.py --data /data/sr --checkpoint runs/x/best.pt --engine m.int8.ort.onnx

The SR-paper convention (``edgesr eval``'s code: ``edgesr.train.evaluate``): HR mod-cropped to the scale,
LR by MATLAB bicubic, Y channel, ``scale`` border pixels shaved; Set14's grayscale image scored on its gray
values. With ``--engine`` the deployed engine (ONNX Runtime/TensorRT, via ``edgesr.runtime.open_runner``)
is scored as well, whole images at once (it must accept their sizes). Paper figures: Ledig et al. 2017,
Table 2 (SRResNet-MSE, trained on 350k ImageNet images): Set5 32.05 / 0.9019, Set14 28.49 / 0.8184.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edgesr.imageops import from_nchw, to_nchw
from edgesr.machine import describe_machine, machine_line
from edgesr.pretrained import default_checkpoint
from edgesr.train.checkpoint import load_generator
from edgesr.train.data import load_pairs
from edgesr.train.evaluate import EvalResult, bicubic_upscaler, evaluate_pairs
from edgesr.train.infer import upscale_image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("EDGESR_DATA", REPO.parent / "shared" / "data"))
PAPER = {"Set5": (32.05, 0.9019), "Set14": (28.49, 0.8184)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder holding Set5/ and Set14/ ({DEFAULT_DATA})")
    ap.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped model")
    ap.add_argument("--engine", type=Path, default=None, help="also score this engine or ONNX")
    ap.add_argument("--sets", default="Set5,Set14")
    args = ap.parse_args()
    ckpt = args.checkpoint or default_checkpoint()
    model = load_generator(ckpt).eval()
    s = model.spec.scale
    print(f"machine: {machine_line(describe_machine())}")
    print(f"model: {ckpt} ({model.spec.describe()}, {model.spec.num_params() / 1e6:.3f} M params), x{s}")
    methods = {"bicubic": bicubic_upscaler(s), f"edgesr {model.spec.preset}": lambda lr: upscale_image(model, lr)}
    runner = None
    if args.engine is not None:
        from edgesr.runtime import open_runner

        runner = open_runner(args.engine, expect_scale=s)
        methods[f"engine {runner.precision} {runner.backend}"] = lambda lr: from_nchw(runner.infer(to_nchw(lr)))[0]
    rows: list[tuple[str, str, EvalResult]] = []
    for name in [n.strip() for n in args.sets.split(",") if n.strip()]:
        folder = args.data / name
        if not folder.is_dir():
            print(f"{name}: {folder} not found (pass --data or set EDGESR_DATA)")
            continue
        pairs = load_pairs(folder, s)
        for method, up in methods.items():
            rows.append((name, method, evaluate_pairs(pairs, up, s, method, data=str(folder))))
    print(f"\n{'set':6} {'method':28} {'images':>6} {'Y-PSNR dB':>10} {'SSIM':>7}")
    for name, method, res in rows:
        print(f"{name:6} {method:28} {len(res.images):6d} {res.mean_psnr:10.2f} {res.mean_ssim:7.4f}")
    for name, (p, ss) in PAPER.items():
        if s == 4 and any(r[0] == name for r in rows):
            print(f"{name:6} {'SRResNet (SRGAN paper)':28} {'':>6} {p:10.2f} {ss:7.4f}")
    if runner is not None:
        runner.close()


if __name__ == "__main__":
    main()

"""INT8 Q/DQ files against their FP32 ONNX on real test images, per image (RGB PSNR vs FP32, of 255).

The gate's check set is the built-in holdout photos plus synthetic camera frames drawn by ``edgesr.synthetic``;
a model whose QAT saw frames from the same generator (at other seeds) needs a check that did not. Set5 and Set14
are photos plus a slide (``ppt3``) and a comic page (``comic``): text and flat graphics nobody generated here.
Each HR image is mod-cropped, bicubic-downscaled (``imageops.downscale``) and upscaled by both files with ONNX
Runtime's CPU provider; the INT8 file twice: as this CPU's fused kernels run it, and with Q/DQ fusion off (the
exact Q/DQ arithmetic TensorRT and GPUs implement).

    python benchmarks/int8_vs_fp32_sets.py FP32.onnx QDQ.onnx --set DIR [--set DIR ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from int8_overlays import run as upscale  # this folder's script: ONNX Runtime sessions, exact Q/DQ or fused
from int8_overlays import session

from edgesr.export.onnx_io import open_edgesr_onnx
from edgesr.imageops import downscale, list_images, load_image, mod_crop
from edgesr.machine import describe_machine
from edgesr.metrics import rgb_psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp32", type=Path)
    ap.add_argument("qdq", type=Path)
    ap.add_argument("--set", dest="sets", action="append", type=Path, required=True, help="folder of HR images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    scale = open_edgesr_onnx(args.fp32).spec.scale
    fp32 = session(str(args.fp32), exact=False)
    int8 = {"fused": session(str(args.qdq), exact=False), "exact_qdq": session(str(args.qdq), exact=True)}
    rows: list[dict[str, Any]] = []
    for folder in args.sets:
        for path in list_images(folder):
            hr = mod_crop(load_image(path), scale)
            lr = downscale(hr, scale)
            ref = upscale(fp32, lr)
            row: dict[str, Any] = {"set": folder.name, "image": path.stem, "lr_hw": list(lr.shape[:2])}
            for name, s in int8.items():
                out = upscale(s, lr)
                diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
                row[name] = {"psnr_db": round(rgb_psnr(out, ref), 2), "max_abs_err": int(diff.max())}
            rows.append(row)
            print(f"{row['set']:6} {row['image']:12} INT8 vs FP32: {row['fused']['psnr_db']:6.2f} dB "
                  f"(exact Q/DQ {row['exact_qdq']['psnr_db']:6.2f} dB), max |err| {row['fused']['max_abs_err']}")
    summary = {}
    for name in int8:
        values = [r[name]["psnr_db"] for r in rows]
        worst = min(rows, key=lambda r: r[name]["psnr_db"])
        summary[name] = {"mean_psnr_db": round(statistics.mean(values), 2), "worst_psnr_db": worst[name]["psnr_db"],
                         "worst_image": f"{worst['set']}/{worst['image']}"}
        print(f"{name}: mean {summary[name]['mean_psnr_db']} dB, worst {summary[name]['worst_psnr_db']} dB "
              f"({summary[name]['worst_image']})")
    if args.json:
        args.json.write_text(json.dumps({"fp32": str(args.fp32), "qdq": str(args.qdq), "machine": describe_machine(),
                                         "summary": summary, "images": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""INT8 calibration methods compared on trained models (what picked the default).

    .venv/bin/python benchmarks/int8_calibration.py NAME=model.onnx ... --out results.json

For each model and method (minmax, percentile, entropy 2048 bins, mse) it calibrates on the
built-in 'train' samples (``--calib-images`` crops of ``--calib-shape``), then places Q/DQ as
``build-engine --int8`` does and scores on the built-in 'holdout' images (LR centre-cropped to
``--check-lr``) with exact Q/DQ arithmetic (ONNX Runtime, Q/DQ fusion off: what TensorRT runs,
identical with or without VNNI), against FP32:
- ``all``: every conv INT8 (the calibration alone);
- ``auto``: ``--int8-keep auto`` (measured search for the gate threshold + 3 dB): float convs,
  share of MACs in INT8, PSNR.
Prints a Markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from edgesr.export.calibration import METHODS, CalibrationConfig, calibrate, calibration_files, crops
from edgesr.export.check_images import load_check_images
from edgesr.export.gate import exact_qdq_session
from edgesr.export.int8 import load_ranges, quantized_graph
from edgesr.export.int8_build import SEARCH_CROPS, SEARCH_SHAPE
from edgesr.export.int8_search import MARGIN_DB, conv_macs, int8_mac_share, search_keep
from edgesr.export.onnx_io import open_edgesr_onnx, save_model

from edgesr.artifact import parse_hw
from edgesr.imageops import from_nchw, to_nchw
from edgesr.metrics import rgb_psnr, sr_psnr_ssim
from edgesr.precisions import precision
from edgesr.samples import samples_dir


def score(path: Path, pairs: list, refs: list, scale: int) -> dict[str, float]:
    sess = exact_qdq_session(path)
    psnr, drop = [], []
    for p, ref in zip(pairs, refs, strict=True):
        (y,) = sess.run(None, {sess.get_inputs()[0].name: to_nchw(p.lr)})
        sr = from_nchw(y)[0]
        psnr.append(rgb_psnr(sr, ref))
        drop.append(sr_psnr_ssim(ref, p.hr, scale, p.gray)[0] - sr_psnr_ssim(sr, p.hr, scale, p.gray)[0])
    return {
        "mean_db": round(float(np.mean(psnr)), 2),
        "worst_db": round(min(psnr), 2),
        "y_drop_db": round(float(np.mean(drop)), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", help="NAME=fp32.onnx")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--calib-images", type=int, default=8)
    ap.add_argument("--calib-shape", default="180x320")
    ap.add_argument("--check-lr", default="120x160")
    ap.add_argument("--min-psnr", type=float, default=precision("int8").min_psnr_db)
    ap.add_argument("--search-crops", type=int, default=SEARCH_CROPS)
    ap.add_argument("--search-shape", default=f"{SEARCH_SHAPE[0]}x{SEARCH_SHAPE[1]}")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    rows = []
    for item in a.models:
        name, path = item.split("=", 1)
        src = open_edgesr_onnx(path)
        pairs, _ = load_check_images(samples_dir("holdout"), src.spec.scale, max_lr=parse_hw(a.check_lr))
        ref_sess = exact_qdq_session(src.path)
        refs = [from_nchw(ref_sess.run(None, {"lr": to_nchw(p.lr)})[0])[0] for p in pairs]
        macs = conv_macs(src.model, parse_hw(a.calib_shape))
        for method in a.methods.split(","):
            t0 = time.perf_counter()
            cfg = CalibrationConfig(method=method, images=a.calib_images, shape=parse_hw(a.calib_shape))
            ranges = load_ranges(calibrate(src.path, cfg).ranges_path)
            t1 = time.perf_counter()
            row: dict = {"model": name, "method": method, "calib_s": round(t1 - t0, 1)}
            tmp = a.out.parent / f".{name}-{method}.onnx"
            save_model(quantized_graph(src.model, ranges, []), tmp)
            row["all"] = score(tmp, pairs, refs, src.spec.scale)
            xs = list(
                crops(replace(cfg, images=a.search_crops, shape=parse_hw(a.search_shape)), calibration_files(cfg))
            )
            s = search_keep(src.model, ranges, xs, macs, a.min_psnr + MARGIN_DB)
            row["search_s"] = round(time.perf_counter() - t1, 1)
            save_model(quantized_graph(src.model, ranges, s.keep), tmp)
            row["auto"] = {
                "float_convs": s.keep,
                "int8_mac_share": round(int8_mac_share(macs, s.keep), 4),
                "search_worst_db": round(s.worst_db, 2),
                **score(tmp, pairs, refs, src.spec.scale),
                "curve": s.curve,
            }
            tmp.unlink()
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items()}, default=str)[:600], flush=True)
            a.out.write_text(json.dumps(rows, indent=1))
    print(
        "| model | method | all INT8: mean / worst dB, Y drop | auto: MACs INT8, mean / worst dB, Y drop, float convs |"
    )
    print("|---|---|---|---|")
    for r in rows:
        al, au = r["all"], r["auto"]
        print(
            f"| {r['model']} | {r['method']} | {al['mean_db']} / {al['worst_db']}, {al['y_drop_db']:+.4f} | "
            f"{100 * au['int8_mac_share']:.1f}%, {au['mean_db']} / {au['worst_db']}, {au['y_drop_db']:+.4f}, "
            f"{len(au['float_convs'])} |"
        )


if __name__ == "__main__":
    main()

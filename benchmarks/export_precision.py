"""Precision matrix of a trained checkpoint: what FP16 and INT8 cost in accuracy (and what they
buy in CPU speed), measured with the same code paths as `edgesr export` / `edgesr build-engine`.

    .venv/bin/python benchmarks/export_precision.py runs/t91_edge_s/last.pt \
        --check-data ../shared/data/Set14 --out runs/export_bench

For each variant (FP16; INT8 with --int8-keep auto and none, for each calibration method) it
builds an ONNX Runtime engine, gates it on the check images (PSNR vs FP32: mean and worst image;
Y-PSNR drop vs ground truth) and times it on the CPU at the opt shape. Writes a JSON and a
Markdown table into --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from edgesr.export.build import BuildConfig, build_engine
from edgesr.export.calibration import CalibrationConfig
from edgesr.export.onnx_export import ExportConfig, export_onnx
from edgesr.runtime import open_runner

from edgesr.artifact import write_json


def cpu_ms(engine: Path, shape: tuple[int, int], repeats: int) -> float:
    x = np.random.default_rng(0).random((1, 3, *shape), dtype=np.float32)
    with open_runner(engine, providers=["cpu"]) as r:
        r.infer(x)  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            r.infer(x)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--check-data", type=Path, default=None, help="gate images (default: built-in holdout)")
    ap.add_argument("--out", type=Path, default=Path("runs/export_bench"))
    ap.add_argument("--methods", default="minmax,entropy,percentile")
    ap.add_argument("--calib-images", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5, help="CPU timing runs per engine (0: skip timing)")
    args = ap.parse_args()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    exported = export_onnx(args.checkpoint, onnx_path, ExportConfig())
    print(f"export {exported.spec.describe()}: " + "; ".join(s.line() for s in exported.parity.sizes))
    variants: list[tuple[str, str, dict]] = [("fp32", "fp32", {}), ("fp16", "fp16", {})]
    for method in args.methods.split(","):
        for keep in ("auto", "none"):
            variants.append((f"int8-{method}-keep-{keep}", "int8", {"method": method, "keep": keep}))
    rows = []
    for name, precision, opts in variants:
        calib = CalibrationConfig(images=args.calib_images, method=opts.get("method", "minmax"))
        cfg = BuildConfig(
            onnx=onnx_path,
            output=out / f"{name}.engine",
            precision=precision,
            backend="onnxruntime",
            calibration=calib,
            int8_keep=opts.get("keep", "auto"),
            check_data=str(args.check_data) if args.check_data else None,
            force=True,  # measure every variant, even one that would be refused
        )
        start = time.perf_counter()
        result = build_engine(cfg)
        gate = result.gate.to_dict()
        row = {
            "variant": name,
            "mean_psnr_vs_fp32": gate["mean_psnr_db"],
            "worst_psnr_vs_fp32": gate["worst_psnr_db"],
            "worst_image": gate["worst_image"],
            "mean_y_psnr": gate["mean_y_psnr_variant"],
            "mean_y_drop": gate["mean_y_drop_db"],
            "passed": gate["passed"],
            "exact_qdq_mean": gate.get("exact_qdq", {}).get("mean_psnr_db"),
            "exact_qdq_worst": gate.get("exact_qdq", {}).get("worst_psnr_db"),
            "exact_qdq_y_drop": gate.get("exact_qdq", {}).get("mean_y_drop_db"),
            "build_s": round(time.perf_counter() - start, 1),
            "cpu_ms_opt": round(cpu_ms(result.engine, result.sidecar.profile.opt, args.repeats), 1)
            if args.repeats
            else None,
        }
        rows.append(row)
        print(json.dumps(row))
    write_json(
        out / "precision.json", {"checkpoint": str(args.checkpoint), "spec": exported.spec.to_dict(), "rows": rows}
    )
    header = (
        "| variant | mean PSNR vs FP32 | worst (image) | Y-PSNR | Y-PSNR drop | gate | "
        "exact Q/DQ mean / worst / Y drop | CPU ms @opt |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['mean_psnr_vs_fp32']} | {r['worst_psnr_vs_fp32']} ({r['worst_image']}) | "
            f"{r['mean_y_psnr']} | {r['mean_y_drop']:+.3f} | {'pass' if r['passed'] else 'FAIL'} | "
            f"{r['exact_qdq_mean'] or '-'} / {r['exact_qdq_worst'] or '-'} / {r['exact_qdq_y_drop'] or '-'} | "
            f"{r['cpu_ms_opt']} |"
        )
    (out / "precision.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

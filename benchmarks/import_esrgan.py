"""Full-size ESRGAN (RRDBNet: 23 blocks, 64 channels, x4, 16.7 M parameters) through import, export, FP16 and
INT8 builds with ONNX Runtime on this CPU, each step timed. Random weights (no pretrained file can be downloaded
here): the timings and the search's cost do not depend on the weights' values.

    python benchmarks/import_esrgan.py [--out benchmarks/results/import_esrgan.json] [--shape 64x64]

The engines' shape range is ``--shape`` (opt = max; min 16x16): the gate runs the check images at that LR
size, and calibration crops are that size (the build's default opt shape for x4 is 180x320, where one ESRGAN
image is ~1 TMAC: minutes per image on 2 cores). The INT8 search runs at its defaults (blocks of convs, 4
crops of 32x32 for a model this big, a 600 s budget). Load average is recorded beside every timing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def load() -> float:
    return round(os.getloadavg()[0], 2)


def timed(results: dict[str, Any], step: str, fn: Any) -> Any:
    print(f"{step} ...", flush=True)
    t0, l0 = time.monotonic(), load()
    out = fn()
    results[step] = {"seconds": round(time.monotonic() - t0, 1), "load_before": l0, "load_after": load()}
    print(f"{step}: {results[step]}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/import_esrgan.json"))
    ap.add_argument("--shape", default="64x64", help="LR opt = max shape of the engines (HxW)")
    ap.add_argument("--skip-int8", action="store_true")
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    from edgesr.artifact import parse_hw
    from edgesr.export.build import BuildConfig, build_engine
    from edgesr.export.model_file import load_any
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    shape = parse_hw(args.shape)
    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "shape": args.shape}
    with tempfile.TemporaryDirectory(prefix="edgesr-esrgan-") as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        net = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4).eval()
        with torch.no_grad():  # random init with the usual 0.1 scale of ESRGAN's initialisation: sane activations
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.mul_(0.1)
        src = root / "RealESRGAN_like_x4.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(src))
        model = timed(results, "import (spandrel detection, weights only)", lambda: load_any(src))
        spec = model.spec
        results["model"] = {"arch": spec.arch, "params": spec.params, "macs_per_output_px": round(spec.macs_per_px),
                            "scale": spec.scale}
        onnx = root / "esrgan_x4.onnx"
        exp = timed(results, "export + parity (ONNX Runtime vs PyTorch, 1 size)",
                    lambda: export_onnx(src, onnx, ExportConfig(parity_sizes=((48, 48),))))
        results["parity_db"] = round(exp.parity.worst_psnr_db, 2)
        profile = {"min_shape": (16, 16), "opt_shape": shape, "max_shape": shape}
        for precision in ("fp16", *(() if args.skip_int8 else ("int8",))):
            out = root / f"esrgan_x4.{precision}.ort.onnx"
            cfg = BuildConfig.with_defaults(onnx, out, backend="onnxruntime", precision=precision, **profile)
            res = timed(results, f"build {precision} (variant + engine + gate)", lambda c=cfg: build_engine(c))
            rep = res.gate.to_dict()
            row = {"passed": rep["passed"], "worst_db": rep["worst_psnr_db"], "mean_db": rep["mean_psnr_db"],
                   "y_drop_db": rep["mean_y_drop_db"]}
            if precision == "fp16":
                row["kept_fp32"] = rep["fp16"]["keep_fp32"]
            else:
                search = rep["int8"].get("search", {})
                row.update(int8_mac_share=rep["int8"]["int8_mac_share"], kept_float=len(res.sidecar.build["int8_keep"])
                           if isinstance(res.sidecar.build["int8_keep"], list) else 0,
                           search_seconds=search.get("seconds"), search_evaluations=search.get("evaluations"),
                           search_unit=search.get("unit"), search_budget_hit=search.get("time_budget_reached"),
                           search_crops=search.get("crops"))
            results[f"{precision}_gate"] = row
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

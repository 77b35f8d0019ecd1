"""The per-architecture table of docs/import-models.md: community architectures at their published sizes
(random weights: no pretrained file can be downloaded here), imported, exported, and built in FP16 and INT8
with ONNX Runtime through the gate. Per model: parameters, MACs per output pixel, parity dB, FP16 vs FP32 dB
and the layers kept FP32, INT8 share of MACs and dB vs FP32, and the time of each step (with the load average).

    python benchmarks/import_table.py [--only compact,span] [--out benchmarks/results/import_table.json]

Engines: LR shapes 16x16 to 64x64 (opt = max), 16 calibration crops, the INT8 search at its defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def esrgan_x4() -> Any:
    """ESRGAN / Real-ESRGAN x4 (RRDBNet 23 blocks, 64 channels): the most common community model."""
    from spandrel.architectures.ESRGAN import ESRGAN

    return ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)


def compact_x4() -> Any:
    """Real-ESRGAN Compact (realesr-general-x4v3 size: 64 features, 32 convs)."""
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4)


def span_x4() -> Any:
    """SPAN x4 (48 feature channels, the published size)."""
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4)


def swinir_light_x4() -> Any:
    """Lightweight SwinIR x4 (embed 60, 4 x 6 blocks, window 8, pixelshuffledirect)."""
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[6, 6, 6, 6],
                  embed_dim=60, num_heads=[6, 6, 6, 6], mlp_ratio=2.0, upsampler="pixelshuffledirect")


def compact_x1() -> Any:
    """A 1x restoration Compact net (64 features, 16 convs), the shape of community 1x denoise/de-JPEG models."""
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=1)


MODELS: dict[str, Callable[[], Any]] = {
    "esrgan_x4": esrgan_x4, "compact_x4": compact_x4, "span_x4": span_x4, "swinir_light_x4": swinir_light_x4,
    "compact_x1": compact_x1,
}


def init_like_training(net: Any) -> Any:
    """Random weights scaled as trained SR nets are (kaiming x0.1, as BasicSR initialises residual nets)."""
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(0.1)
    return net.eval()


def row_for(name: str, root: Path) -> dict[str, Any]:
    from safetensors.torch import save_file

    from edgesr.export.build import BuildConfig, build_engine
    from edgesr.export.calibration import CalibrationConfig
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    src = root / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in init_like_training(MODELS[name]()).state_dict().items()}, str(src))
    row: dict[str, Any] = {"model": name, "load_before": round(os.getloadavg()[0], 2)}
    t = time.monotonic()
    exp = export_onnx(src, root / f"{name}.onnx", ExportConfig(parity_sizes=((48, 48),)))
    row.update(arch=exp.spec.arch, params=exp.spec.params, macs_per_px=round(exp.spec.macs_per_px),
               size_rule=f"x{exp.spec.size_multiple}, min {exp.spec.min_size}",
               parity_db=round(exp.parity.worst_psnr_db, 2),
               export_s=round(time.monotonic() - t, 1))
    profile = {"min_shape": (16, 16), "opt_shape": (64, 64), "max_shape": (64, 64)}
    for precision in ("fp16", "int8"):
        t = time.monotonic()
        cfg = BuildConfig.with_defaults(exp.path, root / f"{name}.{precision}.ort.onnx", backend="onnxruntime",
                                        precision=precision, calibration=CalibrationConfig(images=16), **profile)
        try:
            rep = build_engine(cfg).gate.to_dict()
        except Exception as exc:  # a refused gate is a result too
            row[precision] = {"error": str(exc).splitlines()[0][:200]}
            continue
        cell: dict[str, Any] = {"passed": rep["passed"], "worst_db": rep["worst_psnr_db"],
                                "mean_db": rep["mean_psnr_db"], "build_s": round(time.monotonic() - t, 1)}
        if precision == "fp16":
            kept = rep["fp16"]["keep_fp32"]
            cell["kept_fp32"] = 0 if kept == "none" else len(kept)
        else:
            cell["int8_mac_share"] = rep["int8"]["int8_mac_share"]
            s = rep["int8"].get("search", {})
            cell.update(search_s=s.get("seconds"), evaluations=s.get("evaluations"), unit=s.get("unit"))
        row[precision] = cell
    row["load_after"] = round(os.getloadavg()[0], 2)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(MODELS))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/import_table.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgesr-table-") as tmp:
        for name in args.only.split(","):
            rows.append(row_for(name, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

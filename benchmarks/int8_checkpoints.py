"""INT8 of one or more checkpoints, side by side: the default ``build-engine --int8`` and Set5/Set14.

    .venv/bin/python benchmarks/int8_checkpoints.py edgesr/weights/edgesr_edge_s_x4.pt runs/qat/last.pt \
        --out benchmarks/results/qat --json benchmarks/results/qat_int8.json

For each checkpoint: ``edgesr export``, then ``edgesr build-engine --int8 --backend onnx`` with its
defaults (percentile calibration on the built-in photos, ``--int8-keep auto``, gate on the built-in
check photos), then x4 Y-PSNR / SSIM on Set5 and Set14 (``$EDGESR_DATA`` or ../shared/data) of the
FP32 checkpoint and of the INT8 Q/DQ ONNX (ONNX Runtime, whole images). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgesr.imageops import from_nchw, to_nchw
from edgesr.machine import describe_machine, machine_line

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGESR_DATA", REPO.parent / "shared" / "data"))
EDGESR = [sys.executable, "-m", "edgesr"]


def _run(*args: str) -> None:
    done = subprocess.run([*EDGESR, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"edgesr {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")


def scores(ckpt: Path, engine: Path) -> dict[str, Any]:
    from edgesr.runtime import open_runner
    from edgesr.train.checkpoint import load_generator
    from edgesr.train.data import load_pairs
    from edgesr.train.evaluate import evaluate_pairs
    from edgesr.train.infer import upscale_image

    model = load_generator(ckpt)
    s = model.spec.scale
    out: dict[str, Any] = {}
    with open_runner(engine, expect_scale=s) as runner:
        methods = {"fp32": lambda lr: upscale_image(model, lr),
                   "int8": lambda lr: from_nchw(runner.infer(to_nchw(lr)))[0]}
        for name in ("Set5", "Set14"):
            pairs = load_pairs(DATA / name, s)
            for method, up in methods.items():
                r = evaluate_pairs(pairs, up, s, method)
                out[f"{name}_{method}"] = [round(r.mean_psnr, 3), round(r.mean_ssim, 4)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("int8-checkpoints"), help="folder for the ONNX files")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for i, ckpt in enumerate(args.checkpoints):
        folder = args.out / f"{i}_{ckpt.parent.name}_{ckpt.stem}"
        folder.mkdir(parents=True, exist_ok=True)
        fp32, int8 = folder / "model.onnx", folder / "model.int8.qdq.onnx"
        _run("export", str(ckpt), "-o", str(fp32))
        _run("build-engine", str(fp32), "--int8", "--backend", "onnx", "-o", str(int8), "--force")
        gate = json.loads(int8.with_name(int8.name + ".gate.json").read_text())
        rows.append({
            "checkpoint": str(ckpt),
            "gate_passed": gate["passed"],
            "int8_vs_fp32_mean_db": gate["mean_psnr_db"],
            "int8_vs_fp32_worst_db": gate["worst_psnr_db"],
            "y_drop_db": gate["mean_y_drop_db"],
            "int8_mac_share": gate["int8"]["int8_mac_share"],
            "keep_float": gate["int8"]["keep_float"],
            **scores(ckpt, int8),
        })
    print(f"machine: {machine_line(describe_machine())}")
    print(f"{'checkpoint':44} {'MACs INT8':>9} {'vs FP32 mean/worst':>19} {'Y drop':>7} "
          f"{'Set5 FP32/INT8':>15} {'Set14 FP32/INT8':>16}")
    for r in rows:
        print(f"{r['checkpoint'][-44:]:44} {r['int8_mac_share']:9.1%} "
              f"{r['int8_vs_fp32_mean_db']:9.2f}/{r['int8_vs_fp32_worst_db']:<9.2f} {r['y_drop_db']:7.3f} "
              f"{r['Set5_fp32'][0]:7.2f}/{r['Set5_int8'][0]:<7.2f} "
              f"{r['Set14_fp32'][0]:8.2f}/{r['Set14_int8'][0]:<7.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": describe_machine(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

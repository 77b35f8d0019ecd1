"""edge_s vs edge_q side by side: parameters, MACs/px, ONNX Runtime FP32 / INT8 latency (interleaved) at 180x320.

    .venv/bin/python benchmarks/compare_edge_q.py \
        --model edge_s=edgesr/weights/edgesr_edge_s_x4 --model edge_q=edgesr/weights/edgesr_edge_q_x4 \
        --extra edge_q_nearest=runs/edge_q_nearest.onnx --runs 15 --json benchmarks/results/edge_q_latency.json

Each ``--model NAME=STEM`` names ``STEM.onnx`` (FP32) and ``STEM.int8.qdq.onnx`` (the portable INT8 Q/DQ
file that ``build-engine --int8 --backend onnx`` writes, i.e. TensorRT's placement); ``--extra NAME=FILE``
adds one more FP32 ONNX (e.g. the same weights with the nearest image skip, to price the cubic anchor).
All sessions: ONNX Runtime CPU provider, default graph optimisation, ``--threads`` intra-op threads.
Runs are interleaved (one run of each file per round, the order rotating every round), so a change in
the machine's load hits every file alike; medians and ratios to the first model's FP32 are printed, with
the load average before and after. Parameters are the deployed graph's (Conv weights and biases of the
FP32 ONNX: re-parameterised branches already folded); MACs per output pixel are ``conv_macs`` (the INT8
gate's counter) over the output pixels, plus the cubic skip's 16 per channel. ``--quality`` adds Set5 /
Set14 of ``STEM.pt`` (PyTorch FP32) and ``STEM.int8.qdq.onnx`` (ONNX Runtime; ``int8_checkpoints.scores``)
and the INT8 gate read from the gate report beside the INT8 file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from onnx import numpy_helper

from edgesr.export.int8_search import conv_macs
from edgesr.export.onnx_io import open_edgesr_onnx
from edgesr.machine import describe_machine, machine_line


def deployed_facts(path: Path, hw: tuple[int, int]) -> dict[str, Any]:
    src = open_edgesr_onnx(path)
    model, spec = src.model, src.spec
    inits = {i.name: i for i in model.graph.initializer}
    params = sum(numpy_helper.to_array(inits[i]).size for n in model.graph.node if n.op_type == "Conv"
                 for i in n.input[1:] if i in inits)
    s = spec.scale
    macs = sum(conv_macs(model, hw).values()) / (hw[0] * hw[1] * s * s)
    macs += 16 * spec.in_channels if spec.image_skip == "bicubic" else 0
    return {"spec": spec.describe(), "deployed_params": int(params), "macs_per_px": round(macs, 1),
            "spec_macs_per_px": spec.macs_per_output_pixel()}


def nearest_variant(ckpt: Path, folder: Path) -> Path:
    """The checkpoint's weights with the nearest-neighbour image skip instead of its own, as FP32 ONNX."""
    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.train.checkpoint import load_checkpoint, save_checkpoint

    data = load_checkpoint(ckpt)
    spec = dataclasses.replace(data["spec"], image_skip="nearest")
    copy = save_checkpoint(folder / "nearest.pt", {"spec": spec, "generator": data["generator"], "step": 0})
    return export_onnx(copy, folder / "nearest.onnx", ExportConfig(parity_sizes=((24, 32),))).path


def session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = threads, 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=STEM (STEM.onnx, STEM.int8.qdq.onnx)")
    ap.add_argument("--extra", action="append", default=[], help="NAME=FILE: one more FP32 ONNX")
    ap.add_argument("--nearest-of", type=Path, default=None,
                    help="CKPT: also time its weights with the nearest image skip (exported to a temporary folder)")
    ap.add_argument("--size", default="180x320", help="LR input HxW")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quality", action="store_true",
                    help="also score Set5/Set14 (STEM.pt in PyTorch FP32, STEM.int8.qdq.onnx in ONNX Runtime) and "
                         "read the INT8 gate report beside the INT8 file")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    files: dict[str, Path] = {}
    facts: dict[str, Any] = {}
    for item in args.model:
        name, stem = item.split("=", 1)
        files[f"{name} fp32"], files[f"{name} int8"] = Path(f"{stem}.onnx"), Path(f"{stem}.int8.qdq.onnx")
        facts[name] = deployed_facts(Path(f"{stem}.onnx"), (h, w))
    for item in args.extra:
        name, path = item.split("=", 1)
        files[f"{name} fp32"] = Path(path)
        facts[name] = deployed_facts(Path(path), (h, w))
    tmp = tempfile.TemporaryDirectory(prefix="edgesr-compare-")
    if args.nearest_of is not None:
        path = nearest_variant(args.nearest_of, Path(tmp.name))
        files["nearest skip fp32"] = path
        facts["nearest skip"] = deployed_facts(path, (h, w))
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    sessions = {k: session(p, args.threads) for k, p in files.items()}
    load_before = os.getloadavg()
    for sess in sessions.values():
        for _ in range(args.warmup):
            sess.run(None, {sess.get_inputs()[0].name: x})
    times: dict[str, list[float]] = {k: [] for k in sessions}
    keys = list(sessions)
    for r in range(args.runs):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:
            sess = sessions[k]
            t0 = time.perf_counter()
            sess.run(None, {sess.get_inputs()[0].name: x})
            times[k].append(time.perf_counter() - t0)
    load_after = os.getloadavg()
    base = statistics.median(times[keys[0]])
    print(f"machine: {machine_line(describe_machine())}")
    print(f"ONNX Runtime CPU, {args.threads} thread(s), input {h}x{w}, {args.runs} interleaved runs after "
          f"{args.warmup} warm-up; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    for name, f in facts.items():
        print(f"{name:16} {f['spec']:50} {f['deployed_params'] / 1e6:.3f} M params deployed, "
              f"{f['macs_per_px'] / 1e3:.2f} k MACs/px (spec {f['spec_macs_per_px'] / 1e3:.2f} k)")
    print(f"{'file':22} {'median ms':>10} {'min ms':>8} {'vs ' + keys[0]:>20}")
    rows = {}
    for k, ts in times.items():
        med = statistics.median(ts)
        rows[k] = {"median_ms": round(med * 1e3, 1), "min_ms": round(min(ts) * 1e3, 1),
                   "time_vs_first": round(med / base, 3), "file": str(files[k])}
        print(f"{k:22} {med * 1e3:10.1f} {min(ts) * 1e3:8.1f} {med / base:19.2f}x")
    quality = {}
    if args.quality:
        from int8_checkpoints import scores  # this folder's script: PyTorch FP32 and INT8 engine, Set5/Set14

        for item in args.model:
            name, stem = item.split("=", 1)
            int8 = Path(f"{stem}.int8.qdq.onnx")
            gate = json.loads(int8.with_name(int8.name + ".gate.json").read_text())
            quality[name] = {**scores(Path(f"{stem}.pt"), int8), "gate_mean_db": gate["mean_psnr_db"],
                             "gate_worst_db": gate["worst_psnr_db"], "int8_mac_share": gate["int8"]["int8_mac_share"],
                             "y_drop_db": gate["mean_y_drop_db"]}
            q = quality[name]
            print(f"{name:16} Set5 FP32/INT8 {q['Set5_fp32'][0]:.2f}/{q['Set5_int8'][0]:.2f}  "
                  f"Set14 FP32/INT8 {q['Set14_fp32'][0]:.2f}/{q['Set14_int8'][0]:.2f}  INT8 gate: "
                  f"{q['int8_mac_share']:.0%} of MACs, {q['gate_mean_db']:.2f} / {q['gate_worst_db']:.2f} dB vs FP32")
    if args.json:
        args.json.write_text(json.dumps({"quality": quality,
            "machine": describe_machine(), "threads": args.threads, "size": [h, w], "runs": args.runs,
            "load_before": load_before, "load_after": load_after, "models": facts, "latency": rows,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()

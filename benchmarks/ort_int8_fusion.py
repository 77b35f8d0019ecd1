"""Why the INT8 Q/DQ ONNX is not faster than FP32 in ONNX Runtime on a CPU, measured.

    .venv/bin/python benchmarks/ort_int8_fusion.py            # the shipped model, 180x320 input

Times three files with ONNX Runtime (CPU, 1 and 2 threads, default graph optimisation): the FP32 ONNX,
the INT8 Q/DQ ONNX as ``build-engine --int8`` writes it (TensorRT's placement: Q/DQ on conv inputs
and weights only), and a variant with a QuantizeLinear/DequantizeLinear pair also on every conv's
output (ranges from the same calibration), which lets ONNX Runtime fuse each conv into QLinearConv.
Prints median latency, the ops ONNX Runtime ends up running, and the PSNR vs FP32 on a held-out photo.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from edgesr.export.calibration import CalibrationConfig, calibrate
from edgesr.export.int8 import QMAX, activation_amax, load_ranges, qdq_pair
from edgesr.imageops import from_nchw, list_images, load_image, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.pretrained import WEIGHTS_DIR, default_onnx
from edgesr.samples import samples_dir


def with_output_qdq(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    nodes, inits = [], []
    for n in out.graph.node:
        nodes.append(n)
        if n.op_type != "Conv":
            continue
        y = n.output[0]
        n.output[0] = f"{n.name}/y_float"
        scale = np.float32(max(activation_amax(ranges, y), 1e-12) / QMAX)
        pair, pair_inits, _ = qdq_pair(n.output[0], f"{n.name}/y", scale, out=y)
        nodes += pair
        inits += pair_inits
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(inits)
    return out


def run(path: Path, x: np.ndarray, threads: int, runs: int) -> tuple[float, np.ndarray, dict[str, int]]:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.log_severity_level = threads, 3
        so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        ops: dict[str, int] = {}
        for n in onnx.load(so.optimized_model_filepath).graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
    name = sess.get_inputs()[0].name
    y = sess.run(None, {name: x})[0]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times)), y, ops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", type=Path, default=default_onnx())
    ap.add_argument("--int8", type=Path, default=WEIGHTS_DIR / "edgesr_edge_s_x4.int8.qdq.onnx")
    ap.add_argument("--size", default="180x320")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    ranges = load_ranges(calibrate(args.fp32, CalibrationConfig(shape=(h, w))).ranges_path)
    img = load_image(list_images(samples_dir("holdout"))[-1])
    reps = (-(-h // img.shape[0]), -(-w // img.shape[1]), 1)
    x = to_nchw(np.ascontiguousarray(np.tile(img, reps)[:h, :w]))
    with tempfile.TemporaryDirectory() as tmp:
        outq = Path(tmp) / "int8_output_qdq.onnx"
        onnx.save(with_output_qdq(onnx.load(str(args.int8)), ranges), str(outq))
        files = {"fp32": args.fp32, "int8 (TensorRT placement)": args.int8, "int8 + output Q/DQ": outq}
        for threads in (1, 2):
            ref = None
            for label, path in files.items():
                ms, y, ops = run(path, x, threads, args.runs)
                out = from_nchw(y)[0]
                ref = out if ref is None else ref
                fused = {k: v for k, v in ops.items() if k in ("Conv", "QLinearConv", "DequantizeLinear")}
                psnr = rgb_psnr(out, ref)
                print(f"{threads} thread(s) {label:27} {ms:8.0f} ms  PSNR vs FP32 {psnr:6.2f} dB  {fused}")


if __name__ == "__main__":
    main()

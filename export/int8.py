"""INT8 variant: an explicit Q/DQ ONNX placed the way TensorRT recommends.

Placement (TensorRT Developer Guide, "Working with Quantized Types" -> "Q/DQ Layer-Placement
Recommendations": "Quantize all inputs of weighted-operations (Convolution, Transposed
Convolution and GEMM). Quantization of the weights and activations reduces bandwidth
requirements and also enables INT8 computation to accelerate bandwidth-limited and
compute-limited layers"; "By default, do not quantize the outputs of weighted-operations.
It is sometimes useful to preserve the higher-precision dequantized output"; TensorRT's
optimizer then propagates Q backwards / DQ forwards and fuses PReLU, residual Add and
pixel-shuffle into the INT8 convolutions where that is legal). So every Conv that is not kept
in float gets exactly two Q->DQ pairs and nothing else does:

- its data input: a dedicated per-tensor pair (the tensor's other readers, e.g. a residual
  ``Add`` or an image-skip ``Resize``, keep reading the float tensor);
- its weight: a per-channel pair on axis 0 (output channels), scale = max|W| / 127.

Outputs, PReLU, the residual Adds, DepthToSpace and any Resize/Add on the input image stay
float. Quantising the residual stream (what ``quantize_static`` does to every Add) is what
made INT8 fail on edgesr's models: the head's output carries the RGB image among larger
feature channels, and one per-tensor scale posterises it (issue 8).

TensorRT's rules for explicit quantisation, re-checked by ``trt_qdq_violations`` (listed with their
sources in docs/tensorrt.md, "Q/DQ rules"): signed INT8, symmetric (every zero point 0), three inputs on every Q/DQ, float
biases (no INT32 through DequantizeLinear), per-channel scales only on weights along axis 0,
activations per-tensor. ONNX Runtime runs the same file on the CPU, so the accuracy gate
measures exactly the graph TensorRT gets.

``--int8-keep``: convs left in float. ``auto`` is measured (``int8_search``); ``none`` keeps
nothing; or comma-separated names: module paths (``head``, ``body.0.conv1``) or Conv node names (``int8_names``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from edgesr.export.int8_names import resolve_keep
from edgesr.export.onnx_io import EdgeSRModel, set_metadata
from onnx import helper, numpy_helper

from edgesr.errors import IncompatibleArtifactError

KEEP_AUTO, KEEP_NONE = "auto", "none"
QMAX = 127.0
PLACEMENT = "Conv data inputs (per-tensor) and weights (per-channel, axis 0); all else float"


def conv_names(model: onnx.ModelProto) -> list[str]:
    return [n.name for n in model.graph.node if n.op_type == "Conv"]


def resolve_names(model: onnx.ModelProto, keep: str) -> list[str] | None:
    """``none`` -> [], names (module paths or node names, ``int8_names``) -> checked Conv names, ``auto`` -> None
    (measured later)."""
    text = keep.strip()
    if text.lower() == KEEP_AUTO:
        return None
    if text.lower() in (KEEP_NONE, ""):
        return []
    return resolve_keep(model, [t.strip() for t in text.split(",") if t.strip()])


def activation_amax(ranges: dict[str, tuple[float, float]], name: str) -> float:
    if name not in ranges:
        raise IncompatibleArtifactError(f"no calibration range for tensor {name!r}: recalibrate this model")
    lo, hi = ranges[name]
    return max(abs(float(lo)), abs(float(hi)))


def qdq_pair(
    src: str, tag: str, scale: np.ndarray, axis: int | None = None, out: str | None = None
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """A symmetric INT8 QuantizeLinear -> DequantizeLinear pair on tensor ``src``: its two nodes,
    its scale and zero-point initializers (``{tag}_scale``/``{tag}_zero``) and the name of the
    dequantised tensor (``out``, else ``{tag}_dq``). ``axis``: per-channel along it; None: per-tensor."""
    scale = np.asarray(scale, np.float32)
    inits = [
        numpy_helper.from_array(scale, f"{tag}_scale"),
        numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{tag}_zero"),
    ]
    args = [f"{tag}_scale", f"{tag}_zero"]
    attrs: dict[str, Any] = {} if axis is None else {"axis": axis}
    dq = out or f"{tag}_dq"
    nodes = [
        helper.make_node("QuantizeLinear", [src, *args], [f"{tag}_q"], f"{tag}_Q", **attrs),
        helper.make_node("DequantizeLinear", [f"{tag}_q", *args], [dq], f"{tag}_DQ", **attrs),
    ]
    return nodes, inits, dq


def quantized_graph(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]], keep: list[str]) -> onnx.ModelProto:
    """A copy of ``model`` with Q->DQ pairs on the data input and weight of every Conv not in ``keep``."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {i.name: i for i in g.initializer}
    new_nodes: list[onnx.NodeProto] = []
    extra: list[onnx.TensorProto] = []
    for node in g.node:
        if node.op_type == "Conv" and node.name not in keep:
            if node.input[1] not in inits:
                raise IncompatibleArtifactError(f"Conv {node.name!r} has no constant weight: cannot quantise it")
            tag = node.name or node.output[0]
            amax = activation_amax(ranges, node.input[0])
            x_nodes, x_inits, x_dq = qdq_pair(node.input[0], f"{tag}/x", np.float32(max(amax, 1e-12) / QMAX))
            weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            w_amax = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
            w_nodes, w_inits, w_dq = qdq_pair(node.input[1], f"{tag}/w", np.maximum(w_amax, 1e-12) / QMAX, axis=0)
            new_nodes += x_nodes + w_nodes
            extra += x_inits + w_inits
            node.input[0], node.input[1] = x_dq, w_dq
        new_nodes.append(node)
    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(extra)
    return out


def load_ranges(path: object) -> dict[str, tuple[float, float]]:
    """ONNX Runtime ``TensorsData`` JSON -> {tensor: (low, high)}."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    data = load_tensors_data(path)  # type: ignore[arg-type]
    return {k: (float(np.min(v.range_value[0])), float(np.max(v.range_value[1]))) for k, v in data.data.items()}


def quantize_qdq(
    src: EdgeSRModel, ranges: dict[str, tuple[float, float]], keep: list[str], **meta: str
) -> onnx.ModelProto:
    """The TensorRT-form Q/DQ model of ``src`` (float everything but the quantised convs)."""
    model = quantized_graph(src.model, ranges, keep)
    set_metadata(model, src.spec, "int8", **{"edgesr.int8_keep": ",".join(keep) or "none"}, **meta)
    problems = trt_qdq_violations(model)
    if problems:
        raise IncompatibleArtifactError(f"the Q/DQ model breaks TensorRT's rules: {problems[0]}")
    return model


def qdq_summary(model: onnx.ModelProto) -> dict[str, object]:
    """Where the Q/DQ pairs are: what each DequantizeLinear feeds (op, input slot) and counts."""
    consumers: dict[str, list[tuple[str, int]]] = {}
    for n in model.graph.node:
        for slot, i in enumerate(n.input):
            consumers.setdefault(i, []).append((n.op_type, slot))
    fed: dict[str, int] = {}
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear":
            for op, slot in consumers.get(n.output[0], []):
                key = f"{op}.{'input' if slot == 0 else 'weight' if slot == 1 else slot}"
                fed[key] = fed.get(key, 0) + 1
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {"dequantize_feeds": fed, "ops": ops}


def _consts(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    out = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def trt_qdq_violations(model: onnx.ModelProto) -> list[str]:
    """Why TensorRT (8.5 - 11.x) would refuse this Q/DQ model; empty when it is fine.

    Rules: QuantizeLinear/DequantizeLinear carry all three inputs (8.x requires the zero
    point); zero points are INT8 and all zero; scales positive; only weights (rooted at an
    initializer) are per-channel and then on axis 0; activations are per-tensor; no
    DequantizeLinear of an INT32 tensor (bias); nothing UINT8.
    """
    consts = _consts(model)
    producers = {o: n for n in model.graph.node for o in n.output}
    problems: list[str] = []
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        where = f"{n.op_type} {n.name!r}"
        if len(n.input) < 3 or not n.input[2]:
            problems.append(f"{where} has no zero point (TensorRT 8.x needs all three inputs)")
            continue
        scale, zp = consts.get(n.input[1]), consts.get(n.input[2])
        if scale is None or zp is None:
            problems.append(f"{where}: scale and zero point must be constants")
            continue
        if zp.dtype != np.int8:
            problems.append(f"{where}: zero point is {zp.dtype}, TensorRT takes signed INT8 only")
        if np.any(zp != 0):
            problems.append(f"{where}: non-zero zero point (TensorRT quantisation is symmetric)")
        if np.any(scale <= 0):
            problems.append(f"{where}: scales must be positive")
        data = n.input[0]
        if n.op_type == "DequantizeLinear" and data in consts and consts[data].dtype == np.int32:
            problems.append(f"{where}: INT32 input (a quantised bias); TensorRT needs float biases")
        if data in consts and consts[data].dtype == np.uint8:
            problems.append(f"{where}: UINT8 data")
        if scale.size > 1:
            root = data
            if n.op_type == "DequantizeLinear" and root in producers and producers[root].op_type == "QuantizeLinear":
                root = producers[root].input[0]
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            if root not in consts:
                problems.append(f"{where}: per-channel scales on an activation (TensorRT: per-tensor only)")
            elif axis != 0 or consts[root].shape[0] != scale.size:
                problems.append(f"{where}: per-channel weight scales must be on axis 0 (output channels)")
    return problems

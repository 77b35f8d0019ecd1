"""INT8 variant: an explicit Q/DQ ONNX in the one flavour TensorRT imports.

``quantize_static`` (ONNX Runtime) with: QDQ format, signed INT8 activations and weights,
symmetric both (every zero point 0), per-channel weights (Conv: axis 0 = output channels),
per-tensor activations, float biases (``QuantizeBias=False``: TensorRT rejects INT32 bias
through DequantizeLinear), a dedicated Q/DQ pair per consumer and float weights with a
Q->DQ pair (``AddQDQPairToWeight``). ``trt_qdq_violations`` re-checks the result against
TensorRT's rules (see ``../shared/reference/TENSORRT_API.md`` section 5). ONNX Runtime runs
the same file on CPU, so the accuracy gate measures exactly what TensorRT gets.

``--int8-keep``: layers left in float. ``auto`` keeps the convolutions SR output is most
sensitive to: the first conv (reads the image), the last conv (writes it) and the
sub-pixel convs (their outputs become output pixels through DepthToSpace). They are
found from the graph's structure, not from names, so any exporter's graph works.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from edgesr.export.calibration import Calibration, _quiet
from edgesr.export.onnx_io import EdgeSRModel, set_metadata
from onnx import numpy_helper

from edgesr.errors import IncompatibleArtifactError, UsageError

KEEP_AUTO, KEEP_NONE = "auto", "none"


def conv_names(model: onnx.ModelProto) -> list[str]:
    return [n.name for n in model.graph.node if n.op_type == "Conv"]


def sensitive_convs(model: onnx.ModelProto) -> list[str]:
    """First conv, sub-pixel convs (feeding DepthToSpace) and last conv, in graph order."""
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    if not convs:
        return []
    feeds_d2s = {i for n in model.graph.node if n.op_type == "DepthToSpace" for i in n.input}
    graph_in = {i.name for i in model.graph.input}
    keep = {convs[0].name, convs[-1].name}
    keep |= {c.name for c in convs if c.output[0] in feeds_d2s or set(c.input) & graph_in}
    return [c.name for c in convs if c.name in keep]


def resolve_keep(model: onnx.ModelProto, keep: str) -> list[str]:
    """``auto`` | ``none`` | comma-separated node names -> node names left in float."""
    text = keep.strip()
    if text.lower() == KEEP_AUTO:
        return sensitive_convs(model)
    if text.lower() in (KEEP_NONE, ""):
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    known = {n.name for n in model.graph.node}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"--int8-keep names {unknown} are not nodes of the model; its convs are: {', '.join(conv_names(model))}"
        )
    return names


TRT_EXTRA_OPTIONS = {
    "ActivationSymmetric": True,
    "WeightSymmetric": True,
    "QuantizeBias": False,
    "DedicatedQDQPair": True,
    "AddQDQPairToWeight": True,
}


def quantize_qdq(src: EdgeSRModel, calibration: Calibration, keep: list[str]) -> onnx.ModelProto:
    """The TensorRT-flavoured Q/DQ model of ``src`` using cached calibration ranges."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[calibration.config.method]
    with tempfile.TemporaryDirectory(prefix="edgesr-int8-") as tmp, _quiet():
        out = Path(tmp) / "qdq.onnx"
        quantize_static(
            src.path,
            out,
            None,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=False,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep,
            calibrate_method=method,
            calibration_cache_path=calibration.ranges_path,
            extra_options=dict(TRT_EXTRA_OPTIONS),
        )
        model = onnx.load(str(out))
    model.ir_version = min(model.ir_version, src.model.ir_version)
    set_metadata(model, src.spec, "int8", **{"edgesr.int8_keep": ",".join(keep) or "none"})
    problems = trt_qdq_violations(model)
    if problems:
        raise IncompatibleArtifactError(f"the Q/DQ model breaks TensorRT's rules: {problems[0]}")
    return model


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

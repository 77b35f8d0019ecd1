"""INT8 for strongly typed TensorRT (11.x): the Q/DQ ONNX with its float layers in FP16.

A strongly typed network runs each layer in the type its ONNX tensors have. Our Q/DQ ONNX (opset 17, FP32
scales: what TensorRT 8.5-10.x parse, with the FP16 builder flag for the float layers) would run every layer
outside Q/DQ in FP32 on TensorRT 11. This rewrite expresses FP16 in the graph instead, as the weakly typed
builds get it from the flag:

- opset 17 -> 19 (QuantizeLinear/DequantizeLinear take FP16 inputs and scales from opset 19); refused where the
  graph has an operator whose meaning changed between the two (none of the SR graphs edgesr exports has one);
- every float tensor and initializer -> FP16, Q/DQ scales included (so a DequantizeLinear yields FP16), input and
  output kept FP32 with a Cast at each end (ONNX Runtime's converter, ``keep_io_types=True``, as ``fp16``).

The INT8 placement, scales and kept-float convs are those of the gated Q/DQ ONNX; only the float type changes,
and the accuracy gate measures the engine built from this file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import onnx

from edgesr.errors import IncompatibleArtifactError, require
from edgesr.export.onnx_io import metadata, save_model, sort_topologically

QDQ_FP16_OPSET = 19
# Operators whose signature or meaning changed between opsets 17 and 19: a version bump would change the graph.
CHANGED_17_TO_19 = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
                    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Split", "Pad", "Resize", "ScatterND",
                    "ScatterElements", "CenterCropPad", "Col2Im", "BitwiseAnd", "AveragePool", "Equal", "Cast",
                    "CastLike", "DequantizeLinear", "QuantizeLinear"}


def float_layers_fp16(qdq_onnx: Path, out: Path) -> Path:
    """Write the FP16-float-layer form of ``qdq_onnx`` to ``out`` (metadata kept: precision int8)."""
    float16 = require("onnxruntime.transformers.float16", why="the FP16 converter ships with onnxruntime")
    model = onnx.load(str(qdq_onnx))
    default = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not default or default[0].version > QDQ_FP16_OPSET:
        raise IncompatibleArtifactError(f"{qdq_onnx.name}: expected an opset <= {QDQ_FP16_OPSET} Q/DQ ONNX")
    if default[0].version < QDQ_FP16_OPSET:
        changed = sorted({n.op_type for n in model.graph.node} & (CHANGED_17_TO_19 - {"QuantizeLinear",
                                                                                       "DequantizeLinear"}))
        if changed:
            raise IncompatibleArtifactError(
                f"{qdq_onnx.name}: cannot express FP16 float layers for strongly typed TensorRT: operators {changed} "
                f"change meaning between opset {default[0].version} and {QDQ_FP16_OPSET}"
            )
        default[0].version = QDQ_FP16_OPSET
        model.ir_version = max(model.ir_version, 9)
    meta = metadata(model)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
        fp16 = float16.convert_float_to_float16(model, keep_io_types=True)
    sort_topologically(fp16)
    del fp16.metadata_props[:]
    for key, value in meta.items():
        fp16.metadata_props.add(key=key, value=value)
    return save_model(fp16, out)

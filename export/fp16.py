"""FP16 variant: weights and compute in FP16, FP32 input and output.

Made with ONNX Runtime's own converter (``onnxruntime.transformers.float16``) with
``keep_io_types=True``, so the runtime still feeds float32 NCHW and gets float32 back
(Cast nodes at the two ends). TensorRT 11 is strongly typed and takes exactly this file
for FP16; on TensorRT <= 10 it is parsed with the FP16 builder flag set. Accuracy (PSNR
against FP32, NaN/Inf on real images) is measured on the built artifact by ``gate``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import onnx
from edgesr.export.onnx_io import EdgeSRModel, set_metadata, sort_topologically
from onnx import numpy_helper

from edgesr.errors import AccuracyGateError, require

FP16_MAX = float(np.finfo(np.float16).max)


def weights_overflow(model: onnx.ModelProto) -> list[str]:
    """Float initializers with values FP16 cannot hold (they would become +-inf)."""
    bad = []
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            arr = numpy_helper.to_array(init)
            if arr.size and float(np.max(np.abs(arr))) > FP16_MAX:
                bad.append(init.name)
    return bad


def to_fp16(src: EdgeSRModel) -> onnx.ModelProto:
    """The FP16 ONNX of an FP32 edgesr ONNX, metadata precision set to 'fp16'."""
    float16 = require("onnxruntime.transformers.float16", why="the FP16 converter ships with onnxruntime")
    overflow = weights_overflow(src.model)
    if overflow:
        raise AccuracyGateError(
            f"{src.path.name}: weights {overflow[:3]} exceed the FP16 range ({FP16_MAX:g}); FP16 would give inf"
        )
    model = onnx.ModelProto()
    model.CopyFrom(src.model)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
        fp16 = float16.convert_float_to_float16(model, keep_io_types=True)
    sort_topologically(fp16)
    set_metadata(fp16, src.spec, "fp16")
    return fp16

"""The precision variants of an FP32 edgesr ONNX, one signature for all (``edgesr.precisions`` names them).

``variant(src, request) -> Variant``: the precision's ONNX model and facts about it for the sidecar; the
caller saves it and builds the engine from it. ``build-engine`` and ``bench`` both come here (through
``edgesr.export.build.build_engine``), so every variant they run passed the same path and the same gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx

from edgesr.export.calibration import Calibration, CalibrationConfig
from edgesr.export.onnx_io import EdgeSRModel

Progress = Callable[[str, int], Callable[[int, int], None]]  # (label, total) -> update(done, total)


@dataclass(frozen=True)
class VariantRequest:
    calibration: CalibrationConfig  # quantized precisions: its shape is the engine's opt shape
    keep: str = "auto"  # quantized precisions: convs left in float (--int8-keep)
    min_psnr_db: float = 42.0  # the gate's threshold (the INT8 search aims above it)
    progress: Progress | None = None


@dataclass(frozen=True)
class Variant:
    model: onnx.ModelProto
    info: dict[str, Any] = field(default_factory=dict)  # -> sidecar build record
    calibration: Calibration | None = None


def fp16_variant(src: EdgeSRModel, request: VariantRequest) -> Variant:
    from edgesr.export.fp16 import make_fp16

    model, keep = make_fp16(src, request.calibration)  # layers whose activations overflow FP16 stay FP32
    return Variant(model, {"fp16": keep.to_dict()})


def int8_variant(src: EdgeSRModel, request: VariantRequest) -> Variant:
    from edgesr.export.int8_build import make_int8

    q = make_int8(src, request.calibration, request.keep, request.min_psnr_db, request.progress)
    # int8_keep: as `--int8-keep` takes it (module paths: head, body.0.conv1), so the build can be repeated
    info = {"calibration": q.calibration.summary(), "int8_keep": q.record["keep_float_short"], "int8": q.record}
    return Variant(q.model, info, q.calibration)

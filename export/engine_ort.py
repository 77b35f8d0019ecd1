"""``--backend onnxruntime``: the verified ONNX, optimised offline by ONNX Runtime.

Level: ``ORT_ENABLE_BASIC``. ONNX Runtime's documentation: basic optimisations "are
semantics-preserving graph rewrites which remove redundant nodes and redundant computation.
They run before graph partitioning and thus apply to all the execution providers"; extended
and layout optimisations run after partitioning and only for the CPU/CUDA/ROCm providers
(https://onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html).
So a BASIC-optimised file still runs on the CPU, CUDA and TensorRT providers of the device.

One more guard: the file ONNX Runtime writes is the graph *after* it was placed on the
provider used here (the CPU). Where that placement changed the graph (the FP16 model: the
CPU provider has no FP16 Conv/PRelu kernels, so ONNX Runtime wraps them in Cast nodes and
expands PRelu), the result is CPU-specific, and the verified ONNX is shipped unoptimised
(it is already minimal: BatchNorm folded, no Identity nodes). The build record says which.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import onnx

from edgesr.backends import EngineBuild, EngineRequest
from edgesr.errors import IncompatibleArtifactError, require
from edgesr.export.onnx_io import EdgeSRModel, metadata, op_counts, open_edgesr_onnx, save_model
from edgesr.machine import cpu_has_vnni

LEVEL = "ORT_ENABLE_BASIC"


def provider_specific_changes(before: onnx.ModelProto, after: onnx.ModelProto) -> list[str]:
    """What the CPU placement added: non-standard operator domains, or more Cast nodes."""
    reasons = []
    domains = {n.domain for n in after.graph.node} - {"", "ai.onnx"}
    if domains:
        reasons.append(f"operators from {sorted(domains)}")
    casts_before = sum(n.op_type == "Cast" for n in before.graph.node)
    casts_after = sum(n.op_type == "Cast" for n in after.graph.node)
    if casts_after > casts_before:
        reasons.append(f"{casts_after - casts_before} Cast nodes inserted for CPU kernels")
    return reasons


def build(variant_onnx: Path, out: Path, request: EngineRequest) -> EngineBuild:
    """``--backend onnxruntime``: the optimised (or, where that is CPU-specific, the unchanged) variant."""
    return _build(open_edgesr_onnx(variant_onnx), out, optimise=True)


def build_portable(variant_onnx: Path, out: Path, request: EngineRequest) -> EngineBuild:
    """``--backend onnx``: the variant exactly as made (the portable TensorRT-form Q/DQ ONNX), after checking
    that ONNX Runtime loads it."""
    return _build(open_edgesr_onnx(variant_onnx), out, optimise=False)


def _build(variant: EdgeSRModel, out: str | os.PathLike[str], optimise: bool) -> EngineBuild:
    """Write the optimised (or, where that is CPU-specific or not wanted, the unchanged) variant to ``out``."""
    ort = require("onnxruntime", why="the onnxruntime backend")
    with tempfile.TemporaryDirectory(prefix="edgesr-ort-") as tmp:
        opt_path = Path(tmp) / "optimised.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(opt_path)
        so.log_severity_level = 3
        try:
            ort.InferenceSession(str(variant.path), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise IncompatibleArtifactError(f"ONNX Runtime cannot load {variant.path.name}: {first[:200]}") from None
        optimised = onnx.load(str(opt_path))
    reasons = provider_specific_changes(variant.model, optimised)
    if not optimise:
        model = variant.model
        applied = "none (portable: the variant ONNX as made, for TensorRT or any ONNX runtime)"
    elif reasons:
        model = variant.model
        applied = f"none (the {LEVEL} result was CPU-specific: {'; '.join(reasons)})"
    else:
        model = optimised
        # ONNX Runtime drops metadata_props and keeps its own opset/IR: restore ours.
        del model.metadata_props[:]
        for key, value in metadata(variant.model).items():
            model.metadata_props.add(key=key, value=value)
        model.ir_version = max(variant.model.ir_version, min(model.ir_version, variant.model.ir_version))
        applied = LEVEL
    save_model(model, out)
    facts: dict[str, Any] = {
        "onnxruntime_version": ort.__version__,
        "optimisation": applied,
        "ops_before": op_counts(variant.model),
        "ops_after": op_counts(model),
    }
    device = {"verified_on": "CPUExecutionProvider", "cpu_vnni": cpu_has_vnni()}
    return EngineBuild(str(ort.__version__), device, facts)

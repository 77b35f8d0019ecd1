"""What a built TensorRT engine's layers run in, and where, read back from the plan (engine inspector).

The builder sets ``ProfilingVerbosity.DETAILED``, so ``engine.create_engine_inspector()
.get_engine_information(LayerInformationFormat.JSON)`` lists every layer with its inputs' and outputs'
``Format/Datatype`` ("Row major linear FP32", "Channel major FP16 format where channel % 8 == 0", "Row major
Int8 format"...). ``summarise`` turns that into counts for the sidecar (``build["engine"]["layers"]``):

- ``precisions``: layers per precision. A layer's precision is INT8 when any input is INT8 (a quantised
  convolution: TensorRT fuses the Q/DQ into it), else the type of its first output;
- ``on_dla`` / ``on_gpu``: layers TensorRT placed on the DLA (their type or name says DLA) and the rest.

The JSON's keys are checked, not guessed: a plan whose layers carry no ``Format/Datatype`` (a build without
detailed verbosity, or keys renamed by a future TensorRT) is reported as such (``None``), never as zero layers.
"""

from __future__ import annotations

import json
from typing import Any

TYPE_WORDS = (("int8", "int8"), ("fp16", "fp16"), ("half", "fp16"), ("bf16", "bf16"), ("fp8", "fp8"),
              ("int32", "int32"), ("int64", "int64"), ("fp32", "fp32"), ("float", "fp32"), ("bool", "bool"))
FORMAT_KEY = "Format/Datatype"


def tensor_type(fmt: str) -> str | None:
    """'Channel major FP16 format where channel % 8 == 0' -> 'fp16'; None when no type word is there."""
    words = fmt.lower().replace("/", " ").split()
    for word, name in TYPE_WORDS:
        if word in words:
            return name
    return None


def layer_precision(layer: dict[str, Any]) -> str | None:
    ins = [tensor_type(str(t.get(FORMAT_KEY, ""))) for t in layer.get("Inputs", []) if isinstance(t, dict)]
    outs = [tensor_type(str(t.get(FORMAT_KEY, ""))) for t in layer.get("Outputs", []) if isinstance(t, dict)]
    if "int8" in ins:
        return "int8"
    return next((t for t in outs if t), None) or next((t for t in ins if t), None)


def on_dla(layer: dict[str, Any]) -> bool:
    text = " ".join(str(layer.get(k, "")) for k in ("LayerType", "Name", "TacticName")).lower()
    return "dla" in text


def summarise(info_json: str) -> dict[str, Any] | None:
    """Counts per precision and device from the inspector's JSON; None when its layers carry no types."""
    try:
        info = json.loads(info_json)
    except json.JSONDecodeError:
        return None
    layers = [layer for layer in info.get("Layers", []) if isinstance(layer, dict)] if isinstance(info, dict) else []
    typed = {id(layer): layer_precision(layer) for layer in layers}
    if not layers or not any(typed.values()):
        return None
    precisions: dict[str, int] = {}
    for layer in layers:
        name = typed[id(layer)] or "unknown"
        precisions[name] = precisions.get(name, 0) + 1
    dla = sum(on_dla(layer) for layer in layers)
    return {"count": len(layers), "precisions": precisions, "on_dla": dla, "on_gpu": len(layers) - dla}


def layer_summary(trt: Any, plan: bytes, logger: Any, dla_core: int | None = None) -> dict[str, Any] | None:
    """Deserialise the plan just built and summarise its layers; None where this TensorRT has no inspector."""
    from edgesr.runtime.trt_common import create

    fmt = getattr(getattr(trt, "LayerInformationFormat", None), "JSON", None)
    if fmt is None:
        return None
    runtime = create(trt, "Runtime", logger)
    if dla_core is not None:
        runtime.DLA_core = int(dla_core)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None or not hasattr(engine, "create_engine_inspector"):
        return None
    return summarise(engine.create_engine_inspector().get_engine_information(fmt))


def dla_warning(dla_core: int | None, layers: dict[str, Any] | None) -> str | None:
    """GPU fallback is silent in TensorRT: say it when layers of a DLA build run on the GPU."""
    if dla_core is None:
        return None
    if layers is None:
        return (
            f"DLA core {dla_core} with GPU fallback: this TensorRT cannot list which layers run on the GPU "
            "instead (check with `polygraphy inspect model --show layers`)"
        )
    if layers["on_gpu"]:
        return (
            f"{layers['on_gpu']} of {layers['count']} layers run on the GPU, not DLA core {dla_core} "
            "(GPU fallback: DLA cannot run them)"
        )
    return None

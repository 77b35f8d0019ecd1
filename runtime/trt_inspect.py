"""What a TensorRT engine's layers run in, read from the plan itself (the engine inspector), and the check
that an engine's precision label (its sidecar) is what the plan really computes in.

``engine.create_engine_inspector().get_engine_information(LayerInformationFormat.JSON)`` (TensorRT 8.2+) lists
every layer with its inputs' and outputs' ``Format/Datatype`` ("Row major linear FP32", "Channel major FP16 format
where channel % 8 == 0", "Row major Int8 format"...) when the plan was built with
``ProfilingVerbosity.DETAILED``, which ``edgesr build-engine`` sets. ``summarise`` turns that into counts:

- ``precisions``: layers per precision. A layer's precision is INT8 when any input is INT8 (a quantised
  convolution: TensorRT fuses the Q/DQ into it), else the type of its first output;
- ``on_dla`` / ``on_gpu``: layers TensorRT placed on the DLA (their type or name says DLA) and the rest.

The JSON's keys are checked, not guessed: a plan whose layers carry no ``Format/Datatype`` (a build without
detailed verbosity, or keys renamed by a future TensorRT) is reported as such (``None``), never as zero layers.

``check_label``: a sidecar says ``precision``; the precision table (``edgesr.precisions``) says which layer types
such an engine must show and which it never has. A hand-edited label (an INT8 engine relabelled ``fp32``) is one
line; where the inspector cannot say, that is a warning, not a silent pass.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from edgesr.errors import EdgeSRWarning, IncompatibleArtifactError
from edgesr.precisions import precision as precision_entry

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
    except (json.JSONDecodeError, TypeError):
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


def engine_layers(trt: Any, engine: Any) -> dict[str, Any] | None:
    """The summary of a deserialised engine's layers; None where this TensorRT has no inspector or the plan
    holds no per-layer types."""
    fmt = getattr(getattr(trt, "LayerInformationFormat", None), "JSON", None)
    if fmt is None or not hasattr(engine, "create_engine_inspector"):
        return None
    inspector = engine.create_engine_inspector()
    if inspector is None:
        return None
    return summarise(inspector.get_engine_information(fmt))


def check_label(name: str, label: str, layers: dict[str, Any] | None, trt_version: str) -> None:
    """Refuse an engine whose layers contradict its precision label; warn where the layers cannot be read."""
    entry = precision_entry(label)
    if layers is None:
        warnings.warn(
            f"{name}: TensorRT {trt_version} cannot list this engine's layer precisions (no engine inspector, or a "
            f"plan built without detailed profiling verbosity): its precision label {label} is not verified",
            EdgeSRWarning,
            stacklevel=3,
        )
        return
    counts: dict[str, int] = layers["precisions"]
    shown = ", ".join(f"{n} {p}" for p, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    wrong = [p for p in entry.trt_layers_never if counts.get(p)]
    missing = [p for p in entry.trt_layers_need if not counts.get(p)]
    if wrong or missing:
        n = counts[wrong[0]] if wrong else 0
        why = f"{n} {wrong[0].upper()} layer{'s' * (n > 1)}" if wrong else f"no {missing[0].upper()} layer"
        raise IncompatibleArtifactError(
            f"{name}: its sidecar says {label} but the engine itself has {why} (engine inspector: {layers['count']} "
            f"layers: {shown}): the sidecar does not describe this engine; rebuild it with `edgesr build-engine`"
        )

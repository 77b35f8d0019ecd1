"""What a built TensorRT engine's layers run in, and where, read back from the plan (engine inspector).

The builder sets ``ProfilingVerbosity.DETAILED``, so the plan records each layer's ``Format/Datatype``;
``edgesr.runtime.trt_inspect`` parses the inspector's JSON (the runner checks a sidecar's precision label with the
same parser at every load). Here: the summary for the sidecar (``build["engine"]["layers"]``) of the plan just
built, and the DLA fallback warning.
"""

from __future__ import annotations

from typing import Any

from edgesr.runtime.trt_inspect import engine_layers


def layer_summary(trt: Any, plan: bytes, logger: Any, dla_core: int | None = None) -> dict[str, Any] | None:
    """Deserialise the plan just built and summarise its layers; None where this TensorRT has no inspector."""
    from edgesr.runtime.trt_common import create

    if getattr(getattr(trt, "LayerInformationFormat", None), "JSON", None) is None:
        return None
    runtime = create(trt, "Runtime", logger)
    if dla_core is not None:
        runtime.DLA_core = int(dla_core)
    engine = runtime.deserialize_cuda_engine(plan)
    return None if engine is None else engine_layers(trt, engine)


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

"""Reading, checking and writing edgesr ONNX files.

One place for what every export stage needs: load a file with a clear error when it is
not ONNX or not an edgesr SR model, read and write the ``metadata_props`` that make the
file self-describing (``edgesr.artifact`` keys), and save a single self-contained file
atomically after ``onnx.checker`` has passed.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgesr import __version__
from edgesr.artifact import (
    INPUT_NAME,
    ONNX_PRECISION_KEY,
    ONNX_SPEC_KEY,
    ONNX_VERSION_KEY,
    OUTPUT_NAME,
    read_onnx_metadata,
)
from edgesr.errors import BadInputError, IncompatibleArtifactError
from edgesr.export.onnx_guard import load_checked
from edgesr.precisions import PRECISIONS
from edgesr.spec import ModelSpec

# IR version per opset so that older runtimes load the file: opset 17 -> IR 8 (onnx 1.12,
# ONNX Runtime >= 1.11, TensorRT 8.5's parser). https://onnx.ai/onnx/repo-docs/Versioning.html
IR_FOR_OPSET = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


@dataclass(frozen=True)
class EdgeSRModel:
    """An ONNX file that passed the checks, with what its metadata says."""

    path: Path
    model: onnx.ModelProto
    spec: ModelSpec
    precision: str


def load_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Parse an ONNX file; ``BadInputError`` (one line) for a missing or non-ONNX file."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"ONNX file not found: {p}")
    try:
        model = load_checked(p)  # external data sized and checked before any of it is read
    except BadInputError:
        raise
    except Exception as exc:  # protobuf DecodeError, external-data errors, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadInputError(f"{p} is not an ONNX model ({first[:120]})") from None
    if not model.graph.node:
        raise BadInputError(f"{p} is not an ONNX model (no graph inside)")
    return model


def check_sr_graph(model: onnx.ModelProto, name: str) -> None:
    """The graph must take one NCHW RGB tensor 'lr' and give one tensor 'sr'."""
    init = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    outputs = list(model.graph.output)

    def shape_of(v: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    if len(inputs) != 1 or len(outputs) != 1:
        raise IncompatibleArtifactError(
            f"{name} is not an edgesr SR model: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}"
        )
    shape = shape_of(inputs[0])
    if len(shape) != 4 or (shape[1] not in (1, 3) and not isinstance(shape[1], str)):  # 1: an imported gray model
        raise IncompatibleArtifactError(
            f"{name} is not an edgesr SR model: its input {inputs[0].name!r} has shape {shape}, "
            f"expected NCHW RGB (rank 4, 3 channels) or gray (1 channel)"
        )
    if inputs[0].name != INPUT_NAME or outputs[0].name != OUTPUT_NAME:
        raise IncompatibleArtifactError(
            f"{name} is not an edgesr SR model: tensors are {inputs[0].name!r} -> {outputs[0].name!r}, "
            f"expected {INPUT_NAME!r} -> {OUTPUT_NAME!r} (export it with `edgesr export`)"
        )


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def set_metadata(model: onnx.ModelProto, spec: ModelSpec, precision: str, **extra: str) -> None:
    """Write the ModelSpec JSON, edgesr version and precision (plus ``extra``) into metadata_props."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    values = {ONNX_SPEC_KEY: spec.to_json(), ONNX_VERSION_KEY: __version__, ONNX_PRECISION_KEY: precision, **extra}
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)


def open_edgesr_onnx(path: str | os.PathLike[str]) -> EdgeSRModel:
    """Load and check an ONNX written by ``edgesr export`` (or a precision variant of one)."""
    p = Path(path)
    model = load_model(p)
    check_sr_graph(model, p.name)
    meta = read_onnx_metadata(metadata(model), p.name)
    return EdgeSRModel(p, model, meta.spec, meta.precision)


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    return dict(sorted(Counter(n.op_type for n in model.graph.node).items()))


def strip_identities(model: onnx.ModelProto) -> int:
    """Remove Identity nodes (the TorchScript exporter adds them for de-duplicated
    initializers); consumers read the Identity's input instead. Returns how many."""
    graph_outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.output[0] not in graph_outputs:
            rename[node.output[0]] = rename.get(node.input[0], node.input[0])
        else:
            keep.append(node)
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    removed = len(model.graph.node) - len(keep)
    if removed:
        del model.graph.node[:]
        model.graph.node.extend(keep)
        used = {i for n in keep for i in n.input}
        vi = [v for v in model.graph.value_info if v.name in used or v.name in graph_outputs]
        del model.graph.value_info[:]
        model.graph.value_info.extend(vi)
    return removed


def sort_topologically(model: onnx.ModelProto) -> None:
    """Reorder nodes so every input is produced before it is read (the ONNX rule that
    converters adding nodes at the end, such as the FP16 one, break)."""
    nodes = list(model.graph.node)
    available = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    ordered: list[onnx.NodeProto] = []
    pending = nodes
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise IncompatibleArtifactError(f"the graph has a cycle or a missing input near node {pending[0].name!r}")
        for n in ready:
            available.update(n.output)
        ordered.extend(ready)
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def check_model(model: onnx.ModelProto, name: str) -> None:
    """``onnx.checker`` with shape inference; failure is an ``IncompatibleArtifactError``."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise IncompatibleArtifactError(f"{name} fails onnx.checker: {first[:200]}") from None


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str], atomic: bool = True) -> Path:
    """Check and write a single self-contained ONNX file (no external .data), atomically (``atomic=False``:
    ``path`` is already a temp file of the caller's ``atomic_write``, which reports a failure by its real name)."""
    p = Path(path)
    check_model(model, p.name)
    if model.ByteSize() > 2_000_000_000:  # protobuf's 2 GB limit; edgesr models are a few MB
        raise IncompatibleArtifactError(f"{p.name} is over 2 GB and cannot be one self-contained file")
    from edgesr.artifact import atomic_write

    if not atomic:
        onnx.save_model(model, str(p), save_as_external_data=False)
        return p
    with atomic_write(p, "ONNX") as tmp:
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    return p

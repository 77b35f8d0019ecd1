"""The fixed-tile fallback of ``edgesr export``: models whose H and W cannot be dynamic in ONNX.

Some architectures compute a shape from the input's size in a way the exporters cannot keep symbolic:
SAFMN's adaptive max pooling to (H // 2**i, W // 2**i), for example. The TorchScript exporter then refuses
the dynamic export ("adaptive pooling, since output_size is not constant"); the dynamo exporter specialises
H and W to the traced size without a word. Either way the graph runs at one size only.

Such a model is exported at one LR tile (default ``DEFAULT_TILE`` x ``DEFAULT_TILE`` rounded up to its size
rule, batch 1; ``--fixed-tile`` chooses it), and its spec says so (``fixed_tile``): the runtime pads every
frame to at least the tile and runs it through the tile in overlapping tiles
(``edgesr.runtime.tiling.through_fixed_tile``), so stream, upscale and eval take any frame size. The parity
proof compares that tiled result with PyTorch on the whole frame. Only where even the fixed export fails
does the export stop, with one line naming the operator and the architecture.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import onnx

from edgesr.errors import BadInputError, IncompatibleArtifactError, UsageError
from edgesr.runtime.size_rule import padded_side
from edgesr.runtime.tiling import fixed_tile_overlap

DEFAULT_TILE = 64  # LR pixels: the export's fallback tile side (rounded up to the model's size rule)
# What the exporters' errors call the operator they cannot export, most specific first.
_OP_PATTERNS = (
    r"Exporting the operator '([^']+)'",
    r"ONNX export of operator ([^,.]+)",
    r"(aten::\w+)",
    r"(aten\.\w+)",
    r"(prim::\w+)",
)


class ShapeFailure(IncompatibleArtifactError):
    """The dynamic-H/W export failed, or its graph did not run at another size: retried at a fixed tile."""


def exporter_reason(exc: BaseException) -> str:
    """One line from an exporter's error: the operator it names, or the error's first line."""
    text = str(exc)
    for pat in _OP_PATTERNS:
        found = re.search(pat, text)
        if found:
            return found.group(1).strip()
    return (text.strip().splitlines() or [type(exc).__name__])[0][:160]


def check_dynamic(proto: onnx.ModelProto) -> None:
    """A graph whose input H or W is a number (the dynamo exporter specialises silently) is not dynamic."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    fixed = [d.dim_value for d in list(dims)[2:4] if d.HasField("dim_value")]
    if fixed:
        raise ShapeFailure(f"the exporter fixed H and W at the traced size ({'x'.join(map(str, fixed))})")


@contextlib.contextmanager
def parity_or_shape_failure(spec: Any) -> Iterator[None]:
    """A dynamic graph that cannot run, or gives a wrong shape, at a parity size other than the traced one."""
    if spec.fixed_tile is not None:
        yield
        return
    try:
        yield
    except (BadInputError, IncompatibleArtifactError) as exc:
        raise ShapeFailure(f"the dynamic graph does not run at every size ({exc})") from None


def at_fixed_tile(model: Any, side: int | None, name: str) -> None:
    """Set ``model.spec.fixed_tile``: ``side`` (``--fixed-tile``) or ``DEFAULT_TILE``, rounded up to the size rule;
    a tile no larger than the overlap its tiles need is refused."""
    spec = model.spec
    t = padded_side(side or DEFAULT_TILE, spec.size_multiple, spec.min_size)
    fixed = replace(spec, fixed_tile=(t, t))
    overlap = -(-2 * fixed.receptive_margin() // max(1, spec.size_multiple)) * max(1, spec.size_multiple)
    if t <= overlap:
        raise UsageError(
            f"{name}: --fixed-tile {side} is too small: tiles of {spec.describe()} overlap by {overlap} LR pixels, "
            f"so the tile must be larger (try {DEFAULT_TILE})"
        )
    assert fixed_tile_overlap(fixed) == overlap
    model.spec = fixed


def export_failure(exc: BaseException, spec: Any, name: str, exporter: str, opset: int) -> IncompatibleArtifactError:
    """The one line for a model that cannot be exported even at a fixed tile."""
    arch = spec.arch_params.get("name", spec.arch) if spec.imported else spec.describe()
    t = spec.fixed_tile
    return IncompatibleArtifactError(
        f"{name}: the {arch} architecture cannot be exported to ONNX, not even at a fixed {t[0]}x{t[1]} tile: "
        f"{exporter_reason(exc)} is not supported by the {exporter} exporter at opset {opset}"
    )

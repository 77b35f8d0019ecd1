"""An ONNX file's external data, checked before any of it is read: a graph may declare tensors of any size in
side files, and ``onnx.load`` reads every one of them, used or not (a declared 1 GiB unused tensor took 6.4 GB of
RSS). edgesr's models are a few MB; the declared sizes are summed from the model's own description and checked
against ``MAX_EXTERNAL_BYTES``, and an external tensor that no node uses is refused, before a byte is loaded."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from edgesr.errors import BadInputError

MAX_EXTERNAL_BYTES = 512 << 20  # 512 MiB: a hundred times edgesr's largest model


def _declared_length(tensor: onnx.TensorProto, base: Path) -> int:
    info = {e.key: e.value for e in tensor.external_data}
    if "length" in info:
        try:
            return int(info["length"])
        except ValueError:
            return -1
    target = base / info.get("location", "")
    try:
        return max(0, os.path.getsize(target) - int(info.get("offset", "0") or 0))
    except (OSError, ValueError):
        return 0  # missing: onnx.load names the file


def load_checked(path: Path) -> onnx.ModelProto:
    """``onnx.load`` of ``path``, with its external data (if any) checked first; one line when refused."""
    model = onnx.load(str(path), load_external_data=False)
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return model
    used = {name for node in model.graph.node for name in node.input}
    unused = [t.name for t in external if t.name not in used]
    if unused:
        raise BadInputError(
            f"{path} declares external tensor {unused[0]!r} that no node uses: refused before reading it"
        )
    sizes = [_declared_length(t, path.parent) for t in external]
    if any(s < 0 for s in sizes) or sum(sizes) > MAX_EXTERNAL_BYTES:
        raise BadInputError(
            f"{path} declares {max(sum(sizes), 0) >> 20} MiB of external data (limit {MAX_EXTERNAL_BYTES >> 20} MiB): "
            "not an edgesr model"
        )
    onnx.load_external_data_for_model(model, str(path.parent))
    return model

"""``edgesr export``: checkpoint -> one self-describing, TensorRT-friendly ONNX file.

What comes out:
- opset 17 (the newest opset TensorRT 8.5 on JetPack 5 parses), IR version 8 so older
  ONNX Runtime builds load it too;
- input ``lr`` / output ``sr`` with dynamic N, H and W;
- BatchNorm folded into the convolutions (done in PyTorch before tracing, then checked:
  no BatchNormalization node may remain), PixelShuffle as ``DepthToSpace`` (mode CRD),
  PReLU as ``PRelu`` with a broadcastable (C,1,1) slope;
- the ModelSpec JSON, edgesr version and precision in ``metadata_props``;
- a single file (no external ``.data``), ``onnx.checker`` passing, and a parity proof
  against PyTorch on real photos (``edgesr.export.parity``) before it is written.

Exporter: the TorchScript-based exporter (``dynamo=False``) is the default. For this
network both exporters give the same operators (Conv, PRelu, Add, DepthToSpace), but the
dynamo exporter only implements opset >= 18 and down-converts to 17 with the ONNX version
converter (it warns that this may fail), takes ~5 s instead of ~0.3 s, and names nodes
``node_conv2d_12`` where TorchScript keeps the module path (``/upsample/upsample.0/conv/Conv``),
which is what ``--int8-keep`` and TensorRT's logs show the user. ``--exporter dynamo`` is
available (and tested) for when the TorchScript exporter goes away.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import onnx

from edgesr.artifact import INPUT_NAME, OUTPUT_NAME, atomic_write, sha256_file
from edgesr.errors import EdgeSRError, IncompatibleArtifactError, UsageError
from edgesr.export.onnx_io import IR_FOR_OPSET, op_counts, save_model, set_metadata, strip_identities
from edgesr.export.parity import ParityReport, check_parity

EXPORTERS = ("torchscript", "dynamo")
MIN_OPSET = 17
DYNAMIC_AXES = {INPUT_NAME: {0: "n", 2: "h", 3: "w"}, OUTPUT_NAME: {0: "n", 2: "H", 3: "W"}}


@dataclass(frozen=True)
class ExportConfig:
    opset: int = 17
    exporter: str = "torchscript"
    parity_sizes: tuple[tuple[int, int], ...] = ((64, 64), (96, 128))
    min_parity_psnr: float = 60.0
    parity_images: str | None = None  # folder; None = built-in holdout samples
    fixed_tile: int | None = None  # export at this LR tile (square, batch 1) instead of trying dynamic H/W first
    min_tiled_psnr: float = 40.0  # a fixed-tile model's whole frames through the tile vs PyTorch (``parity``)

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise UsageError(f"--exporter must be one of {', '.join(EXPORTERS)}, got {self.exporter!r}")
        if self.opset < MIN_OPSET or self.opset not in IR_FOR_OPSET:
            raise UsageError(f"--opset must be between {MIN_OPSET} and {max(IR_FOR_OPSET)}, got {self.opset}")
        if len(self.parity_sizes) < 1:
            raise UsageError("at least one parity size is needed")
        if self.fixed_tile is not None and not 8 <= self.fixed_tile <= 4096:
            raise UsageError(f"--fixed-tile must be between 8 and 4096 LR pixels, got {self.fixed_tile}")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    spec: Any
    parity: ParityReport
    ops: dict[str, int]
    config: ExportConfig
    checkpoint: Path
    sha256: str = field(default="")
    fixed_why: str = ""  # why H/W are fixed (the dynamic export's failure), or "" (dynamic, or --fixed-tile)


def trace_hw(spec: Any) -> tuple[int, int]:
    """The LR size traced: 32x48, or the model's fixed tile, rounded up to its size rule."""
    from edgesr.runtime.size_rule import padded_side

    if spec.fixed_tile is not None:
        return tuple(spec.fixed_tile)  # type: ignore[return-value]
    return padded_side(32, spec.size_multiple, spec.min_size), padded_side(48, spec.size_multiple, spec.min_size)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """The TorchScript exporter's C++ side prints the whole TorchScript graph when it fails (its ONNX log is on
    whatever ``verbose`` says, and goes to the process's stdout): a failure is one line here, so the log goes to
    file descriptor 2 and that goes nowhere while the exporter runs."""
    import sys
    import tempfile

    import torch

    torch._C._jit_set_onnx_log_output_stream("stderr")
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _trace_torchscript(model: Any, opset: int) -> onnx.ModelProto:
    import torch

    buf = io.BytesIO()
    x = torch.rand(1, model.spec.in_channels, *trace_hw(model.spec))
    with warnings.catch_warnings(), _quiet_native_stderr():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=None if model.spec.fixed_tile is not None else DYNAMIC_AXES,
            do_constant_folding=True,
            training=torch.onnx.TrainingMode.EVAL,
        )
    return onnx.load_from_string(buf.getvalue())


def _trace_dynamo(model: Any, opset: int) -> onnx.ModelProto:
    import torch
    from torch.export import Dim

    x = torch.rand(1, model.spec.in_channels, *trace_hw(model.spec))
    dims = {0: Dim("n", min=1, max=256), 2: Dim("h", min=4, max=8192), 3: Dim("w", min=4, max=8192)}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (x,),
            None,
            dynamo=True,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=None if model.spec.fixed_tile is not None else {"x": dims},
            optimize=True,
            verbose=False,
        )
    proto: onnx.ModelProto = program.model_proto
    got = {o.domain: o.version for o in proto.opset_import}.get("", 0)
    if got != opset:
        raise IncompatibleArtifactError(
            f"the dynamo exporter produced opset {got}, not {opset}: use --exporter torchscript or --opset {got}"
        )
    return proto


def to_onnx(model: Any, opset: int = 17, exporter: str = "torchscript") -> onnx.ModelProto:
    """Trace an eval-mode generator (BatchNorm and re-parameterisable branches folded first, ``deploy_form``) or an
    imported model into a clean ONNX graph with metadata."""
    if model.spec.imported:
        folded = model  # TorchScript's exporter folds any eval-mode BatchNorm into the conv before it
    else:
        from edgesr.train.arch import deploy_form

        folded = deploy_form(model)
    proto = _trace_torchscript(folded, opset) if exporter == "torchscript" else _trace_dynamo(folded, opset)
    strip_identities(proto)
    proto.ir_version = min(proto.ir_version, IR_FOR_OPSET[opset])
    proto.producer_name, proto.doc_string = (
        "edgesr",
        (
            f"edgesr {model.spec.describe()}: input '{INPUT_NAME}' NCHW float32 {model.spec.colour} in "
            f"{list(model.spec.input_range)}, output '{OUTPUT_NAME}' NCHW float32 {model.spec.colour} "
            f"x{model.spec.scale} "
            f"in {list(model.spec.output_range)} (not clipped)"
        ),
    )
    set_metadata(proto, model.spec, "fp32")
    ops = op_counts(proto)
    if "BatchNormalization" in ops:
        raise IncompatibleArtifactError("BatchNormalization survived the export: it must be folded")
    return proto


def export_onnx(
    checkpoint: str | os.PathLike[str], output: str | os.PathLike[str], config: ExportConfig = ExportConfig()
) -> ExportResult:
    """Export an edgesr checkpoint or an importable model file (``model_file``), prove parity, then write
    ``output`` (nothing is written if parity fails). H and W are dynamic where the exporter manages; where the
    dynamic export fails, or its graph does not run at another size, the model is exported at a fixed tile
    (``edgesr.export.fixed_tile``) that the runtime tiles every frame through."""
    from edgesr.export.fixed_tile import ShapeFailure, at_fixed_tile, check_dynamic, export_failure
    from edgesr.export.model_file import load_any

    ckpt, out = Path(checkpoint), Path(output)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"the export output must end in .onnx, got {out.name}")
    model = load_any(ckpt)
    why = ""
    if config.fixed_tile is None:
        try:
            return _write(model, _dynamic(model, config, check_dynamic), out, ckpt, config)
        except ShapeFailure as exc:
            why = str(exc)
    at_fixed_tile(model, config.fixed_tile, ckpt.name)
    try:
        proto = to_onnx(model, config.opset, config.exporter)
    except Exception as exc:  # the exporters raise many types; what they name is the unsupported operator
        raise export_failure(exc, model.spec, ckpt.name, config.exporter, config.opset) from None
    return replace(_write(model, proto, out, ckpt, config), fixed_why=why)


def _dynamic(model: Any, config: ExportConfig, check: Any) -> onnx.ModelProto:
    from edgesr.export.fixed_tile import ShapeFailure, exporter_reason

    try:
        proto = to_onnx(model, config.opset, config.exporter)
    except EdgeSRError:
        raise
    except Exception as exc:  # retried at a fixed tile, where a still failing operator is named
        raise ShapeFailure(f"the {config.exporter} exporter fails on {exporter_reason(exc)}") from None
    check(proto)
    return proto


def _write(model: Any, proto: onnx.ModelProto, out: Path, ckpt: Path, config: ExportConfig) -> ExportResult:
    from edgesr.export.fixed_tile import parity_or_shape_failure

    with atomic_write(out, "ONNX") as tmp:  # parity is proven on the very file that is renamed into place
        save_model(proto, tmp, atomic=False)
        with parity_or_shape_failure(model.spec):
            parity = check_parity(
                model, tmp, config.parity_sizes, config.min_parity_psnr, config.parity_images, config.min_tiled_psnr
            )
    return ExportResult(out, model.spec, parity, op_counts(proto), config, ckpt, sha256_file(out))

"""The precisions an engine can have: ONE table, the one place a new precision goes.

Each ``Precision`` says everything the stages need about it:

- ``name`` (the sidecar's and ONNX metadata's ``precision``; ``build-engine --precision NAME``) and
  ``cli_flag``, its shortcut (``build-engine --fp16``);
- ``min_psnr_db``: the accuracy gate's default threshold against FP32, on check images;
- ``made_by`` (in words) and ``variant``: the export function that makes the precision's ONNX from the FP32 ONNX
  (one signature, ``edgesr.export.variants``), referenced lazily: this module is core and imports no stage;
- ``trt_weak_flags``: the TensorRT builder flags of a weakly typed build (TensorRT 8.5-10.x; a leading ``-``
  clears a flag). TensorRT 11 is strongly typed and has no such flags: there the variant ONNX's types are the
  engine's precision (``trt_strong`` says how);
- ``ort_trt_options``: the ONNX Runtime TensorRT execution provider's options for an artifact of this precision;
- ``quantized``: it takes calibration data (``--calib-*``, ``--int8-keep``);
- ``trt_layers_need`` / ``trt_layers_never``: what a TensorRT engine of this precision shows in its engine
  inspector (layer types): at least one layer of each ``need`` type, none of a ``never`` type. The runtime checks a
  sidecar's label against the plan with them (``edgesr.runtime.trt_inspect.check_label``).

Adding a precision (e.g. FP16 with FP32 fallback for overflowing layers) = one entry here + its variant function
in ``edgesr.export.variants`` (and whatever module that function needs); ``build-engine --precision NAME`` takes
it at once (a shortcut flag like ``--fp16`` is one more typer option in ``edgesr/cli/build_engine_cmd.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgesr.errors import UsageError


def _fp16_variant() -> Callable[..., Any]:
    from edgesr.export.variants import fp16_variant

    return fp16_variant


def _int8_variant() -> Callable[..., Any]:
    from edgesr.export.variants import int8_variant

    return int8_variant


@dataclass(frozen=True)
class Precision:
    name: str
    cli_flag: str | None  # None: the default (no flag)
    min_psnr_db: float  # accuracy gate default, PSNR of the variant vs FP32 (worst check image)
    made_by: str
    variant: Callable[[], Callable[..., Any]] | None  # lazy: the export function making the variant; None = as is
    trt_weak_flags: tuple[str, ...]  # TensorRT <= 10 builder flags ("-X": clear X)
    trt_strong: str  # TensorRT 11 (strongly typed): where the precision comes from
    trt_strong_flags: tuple[str, ...] = ()
    ort_trt_options: dict[str, str] = field(default_factory=dict)
    quantized: bool = False
    trt_layers_need: tuple[str, ...] = ()
    trt_layers_never: tuple[str, ...] = ()


TABLE: tuple[Precision, ...] = (
    Precision(
        name="fp32",
        cli_flag=None,
        min_psnr_db=50.0,
        made_by="the FP32 ONNX from `edgesr export`, as is",
        variant=None,
        trt_weak_flags=("-TF32",),  # TensorRT enables TF32 by default on Ampere+: an "fp32" engine is FP32
        trt_strong="the FP32 ONNX",
        trt_strong_flags=("-TF32",),
        trt_layers_need=("fp32",),
        trt_layers_never=("int8", "fp16", "bf16", "fp8"),
    ),
    Precision(
        name="fp16",
        cli_flag="--fp16",
        min_psnr_db=50.0,
        made_by="weights and compute in FP16, FP32 input/output; layers whose measured activations leave the FP16 "
        "range stay FP32 between Cast nodes (edgesr.export.fp16)",
        variant=_fp16_variant,
        trt_weak_flags=("FP16",),
        trt_strong="the FP16 ONNX",
        ort_trt_options={"trt_fp16_enable": "True"},
        trt_layers_need=("fp16",),  # layers measured to overflow FP16 stay FP32: some FP32 is fine
        trt_layers_never=("int8", "fp8"),
    ),
    Precision(
        name="int8",
        cli_flag="--int8",
        min_psnr_db=42.0,
        made_by="explicit Q/DQ from calibration, measured float convs (edgesr.export.int8_build); float layers "
        "in FP16 on TensorRT",
        variant=_int8_variant,
        trt_weak_flags=("INT8", "FP16"),  # INT8 is required for Q/DQ on weakly typed builds; FP16 for the rest
        trt_strong="the Q/DQ ONNX with its float layers in FP16 (opset 19, FP16 scales)",
        ort_trt_options={"trt_fp16_enable": "True", "trt_int8_enable": "True"},
        quantized=True,
        trt_layers_need=("int8",),
        trt_layers_never=("fp8",),
    ),
)

PRECISIONS: tuple[str, ...] = tuple(p.name for p in TABLE)


def precision(name: str) -> Precision:
    """The table entry; an unknown name is a ``UsageError`` listing the known ones."""
    for p in TABLE:
        if p.name == name:
            return p
    raise UsageError(f"unknown precision {name!r} (known: {', '.join(PRECISIONS)})")


def from_flags(given: dict[str, bool], named: str | None = None) -> str:
    """The precision the CLI asks for: the shortcut flags (``{"--fp16": True, "--int8": False}``) or
    ``--precision NAME`` (any entry of the table); two different ones conflict."""
    chosen = [p for p in TABLE if p.cli_flag is not None and given.get(p.cli_flag)]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(p.cli_flag or p.name for p in chosen)} conflict: choose one precision")
    if named is not None:
        entry = precision(named)
        if chosen and chosen[0] is not entry:
            raise UsageError(f"--precision {named} and {chosen[0].cli_flag} conflict: choose one precision")
        return entry.name
    return chosen[0].name if chosen else next(p.name for p in TABLE if p.cli_flag is None)


def gate_thresholds() -> str:
    """'50 (fp32, fp16), 42 (int8)': the defaults, for help texts."""
    by: dict[float, list[str]] = {}
    for p in TABLE:
        by.setdefault(p.min_psnr_db, []).append(p.name)
    return ", ".join(f"{db:g} ({', '.join(names)})" for db, names in by.items())

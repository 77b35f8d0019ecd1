"""``edgesr inspect MODEL``: what a model file is, from its own description.

Model files (.pth .pt .ckpt .safetensors: edgesr checkpoints and imports) are read as weights only
(``edgesr.export.model_file``, needs torch); an ONNX file or an engine is described by its metadata or
sidecar alone (no torch).
"""

from __future__ import annotations

from pathlib import Path

import typer

from edgesr.errors import BadInputError
from edgesr.spec import ModelSpec

MODEL_ARG = typer.Argument(..., help="Model file (.pth .pt .ckpt .safetensors), ONNX file or engine.")


def size_rule(spec: ModelSpec) -> str:
    if spec.fixed_tile is not None:
        return f"exported at {spec.fixed_tile[0]}x{spec.fixed_tile[1]}: every frame is tiled through it"
    parts = []
    if spec.size_multiple > 1:
        parts.append(f"H and W multiples of {spec.size_multiple}")
    if spec.min_size > 0:
        parts.append(f"at least {spec.min_size}")
    return ", ".join(parts) + " (the runtime pads by reflection and crops)" if parts else "any HxW"


def spec_lines(spec: ModelSpec) -> list[tuple[str, str]]:
    """(field, value) rows that describe ``spec``, the same for every kind of file."""
    macs = spec.macs_per_output_pixel()
    if spec.imported:
        name = spec.arch_params.get("name", spec.arch)
        hyper = {k: v for k, v in sorted(spec.arch_params.items()) if k not in ("name", "tags")}
        arch = f"{name} ({spec.arch}); {', '.join(f'{k}={v}' for k, v in hyper.items()) or 'no parameters'}"
    else:
        arch = f"edgesr {spec.describe()}"
    rows = [
        ("architecture", arch),
        ("scale", f"x{spec.scale} ({spec.purpose if spec.imported else 'SR'})"),
        ("channels", f"{spec.in_channels} -> {spec.channels_out} ({spec.colour})"),
        ("parameters", f"{spec.num_params() / 1e6:.3f} M ({spec.num_params():,})"),
        ("MACs per output pixel", f"{macs / 1e3:.1f} k (Conv and Linear layers)"),
        ("size rule", size_rule(spec)),
        ("half precision", "supported" if spec.half else "not supported by the architecture's authors; "
                                                          "an FP16 build keeps layers FP32 where it measures overflow"),
    ]
    if spec.imported:
        rows.append(("source", f"{spec.source.get('file', '?')} (sha256 {spec.source.get('sha256', '?')[:16]}...)"))
        rows.append(("licence", spec.licence or "not stated in the file"))
    return rows


def read_spec(path: Path) -> tuple[ModelSpec, str]:
    """The spec of any model artifact and what kind of file it is."""
    if not path.is_file():
        raise BadInputError(f"model not found: {path}")
    from edgesr.artifact import read_onnx_metadata, read_sidecar, sidecar_path

    if sidecar_path(path).is_file():
        sc = read_sidecar(path)
        return sc.spec, f"{sc.backend} {sc.precision} engine"
    if path.suffix.lower() == ".onnx":
        import onnx

        from edgesr.errors import IncompatibleArtifactError

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception:
            raise IncompatibleArtifactError(f"{path.name} is not an ONNX model") from None
        meta = read_onnx_metadata({p.key: p.value for p in model.metadata_props}, path.name)
        return meta.spec, f"{meta.precision} ONNX"
    from edgesr.export.model_file import load_any

    model = load_any(path)
    return model.spec, "imported model file (read as weights only)" if model.spec.imported else "edgesr checkpoint"


def inspect(model: Path = MODEL_ARG) -> None:
    """Print what a model file is: architecture, scale, parameters, MACs per output pixel, size rule, licence."""
    spec, kind = read_spec(model)
    typer.echo(f"{model.name}: {kind}")
    for key, value in spec_lines(spec):
        typer.echo(f"  {key:<22} {value}")

"""Any model file -> a PyTorch module with a ``ModelSpec``: edgesr checkpoints and community/custom models.

``load_any(path)`` returns an eval-mode module with a ``.spec``, ready for ``onnx_export``:
- an edgesr checkpoint (a dict with ``spec`` and ``generator``) is rebuilt by ``edgesr.train``;
- any other ``.pth``/``.pt``/``.ckpt``/``.safetensors`` file is read as a state dict and handed
  to spandrel (chaiNNer's loader, MIT), which detects the architecture and its parameters
  from the weights. Its descriptor becomes an imported ``ModelSpec``: scale, channels, size
  rule, half-precision support, purpose, parameters, MACs per output pixel and the source
  file's name and sha256.

Safety: a pickle is never allowed to run code. Pickled files are read with
``torch.load(weights_only=True)`` (torch's restricted unpickler: tensors, containers and plain
data only; any other global is refused before it is imported or called); ``.safetensors`` holds
no code at all. spandrel's own ``ModelLoader.load_from_file`` is not used: for ``.pt`` it first
tries ``torch.jit.load`` (a TorchScript archive carries code).

Refusals (one line each): a file spandrel does not recognise (naming what is supported), a
model that is not image-to-image at its scale (face restoration, inpainting, colourisation:
purpose or channel count), and one whose output is not scale x input.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from edgesr.artifact import sha256_file
from edgesr.errors import BadInputError, IncompatibleArtifactError, UsageError, require
from edgesr.spec import IMPORT_SCALES, ModelSpec

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
SUFFIXES = (*PICKLE_SUFFIXES, ".safetensors")


def supported_text() -> str:
    return (
        f"edgesr checkpoints (.pt) and PyTorch weight files ({', '.join(SUFFIXES)}) of an image-to-image "
        "architecture spandrel recognises (ESRGAN/Real-ESRGAN, Real-ESRGAN Compact, SPAN, SwinIR, HAT, DAT, "
        "OmniSR, PLKSR/RealPLKSR, SAFMN, RCAN, ... and 1x restoration models)"
    )


def read_weights(path: Path) -> Any:
    """The file's content without running code: a state dict (or an edgesr checkpoint dict)."""
    if not path.is_file():
        raise BadInputError(f"model checkpoint not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{path.name}: not a model file edgesr reads; supported: {supported_text()}")
    if suffix == ".safetensors":
        from safetensors import SafetensorError  # type: ignore[attr-defined]
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            why = _first(exc)
            raise IncompatibleArtifactError(f"{path.name} is not a readable .safetensors file ({why})") from None
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        text = str(exc)
        if "Unsupported global" in text or "Unsupported class" in text or "GLOBAL" in text:
            found = re.search(r"GLOBAL ([\w.]+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise IncompatibleArtifactError(
                f"{path} is not a trusted edgesr checkpoint or model file: it holds Python objects{what} "
                "beyond tensors and plain data (they could run code)"
            ) from None
        why = _first(exc)
        raise IncompatibleArtifactError(f"{path} is not a readable edgesr checkpoint or model file ({why})") from None


def _first(exc: BaseException) -> str:
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line[:160]


def is_edgesr_checkpoint(data: Any) -> bool:
    return isinstance(data, dict) and "spec" in data and "generator" in data


def load_any(path: str | os.PathLike[str], expect_scale: int | None = None) -> Any:
    """An eval-mode torch module with ``.spec`` for an edgesr checkpoint or an importable model file."""
    p = Path(path)
    data = read_weights(p)
    if is_edgesr_checkpoint(data):
        from edgesr.train.checkpoint import load_generator

        return load_generator(p, expect_scale=expect_scale)  # its own validation and messages
    model = import_state_dict(data, p)
    if expect_scale is not None and model.spec.scale != expect_scale:
        raise IncompatibleArtifactError(f"{p.name} is a x{model.spec.scale} model, but x{expect_scale} was asked for")
    return model


def import_state_dict(data: Any, path: Path) -> Any:
    """spandrel's detection on a state dict read by ``read_weights`` -> ``ImportedModel``."""
    spandrel = require("spandrel", why="importing community models needs it (pip install 'edgesr[train]')")
    if not isinstance(data, dict) or not data:
        raise UsageError(f"{path.name} holds no state dict; supported: {supported_text()}")
    try:
        state = spandrel.canonicalize_state_dict(data)
        desc = spandrel.MAIN_REGISTRY.load(state)
    except spandrel.UnsupportedModelError:
        raise UsageError(
            f"{path.name}: spandrel does not recognise this model; supported: {supported_text()}"
        ) from None
    except Exception as exc:  # a recognised architecture whose weights do not fit it
        why = _first(exc)
        raise IncompatibleArtifactError(f"{path.name}: weights do not load into their architecture ({why})") from None
    arch = desc.architecture.name
    if not isinstance(desc, spandrel.ImageModelDescriptor) or desc.purpose not in ("SR", "Restoration"):
        raise UsageError(
            f"{path.name} is a {arch} {desc.purpose} model; edgesr deploys image-to-image super-resolution "
            "and restoration models (output = scale x input, same channels), not face restoration or inpainting"
        )
    if desc.input_channels != desc.output_channels or desc.input_channels not in (1, 3):
        raise UsageError(
            f"{path.name} is a {arch} model from {desc.input_channels} to {desc.output_channels} channels; edgesr "
            "deploys image-to-image models with 1 or 3 channels in and the same out (not colourisation)"
        )
    if desc.scale not in IMPORT_SCALES:
        scales = ", x".join(map(str, IMPORT_SCALES))
        raise UsageError(f"{path.name} is a x{desc.scale} {arch} model; edgesr deploys x{scales}")
    from edgesr.export.model_torch import ImportedModel

    module = ImportedModel(desc.model, getattr(desc, "_call_fn", None))
    req = desc.size_requirements
    probe_hw, macs = require_scale(
        module, path.name, arch, desc.scale, desc.input_channels, _multiple(desc), req.minimum
    )
    hyper = getattr(desc.model, "hyperparameters", {}) or {}
    multiple = _multiple(desc)  # window attention: the runtime pads to the window, so the graph never pads
    module.spec = ModelSpec(
        preset="import",
        scale=int(desc.scale),
        arch=desc.architecture.id,
        in_channels=int(desc.input_channels),
        out_channels=int(desc.output_channels),
        colour="RGB" if desc.input_channels == 3 else "Y",
        format=2,
        arch_params={"name": arch, "tags": list(desc.tags), **_jsonable(hyper)},
        size_multiple=multiple,
        min_size=int(req.minimum),
        half=bool(desc.supports_half),
        purpose=str(desc.purpose),
        source={"file": path.name, "sha256": sha256_file(path)},
        params=int(sum(t.numel() for t in desc.model.parameters())),
        macs_per_px=macs / (probe_hw[0] * probe_hw[1] * desc.scale**2),
        licence=_licence(data) or _safetensors_licence(path),
    )
    return module


def require_scale(module: Any, name: str, arch: str, scale: int, channels: int, multiple: int, minimum: int) -> Any:
    """Run the shape probe; refuse a model whose output is not ``scale`` x its input. Returns the probe's HxW and
    the multiply-adds of that run."""
    from edgesr.export.model_torch import probe_output

    probe_hw, out_hw, macs = probe_output(module, channels, multiple, minimum)
    if out_hw != (probe_hw[0] * scale, probe_hw[1] * scale):
        raise UsageError(
            f"{name}: the {arch} model's output {out_hw[0]}x{out_hw[1]} for a {probe_hw[0]}x{probe_hw[1]} input "
            f"is not x{scale} of it; edgesr deploys models whose output is scale x input"
        )
    return probe_hw, macs


def _multiple(desc: Any) -> int:
    window = (getattr(desc.model, "hyperparameters", {}) or {}).get("window_size")
    m = int(desc.size_requirements.multiple_of)
    return math.lcm(m, window) if isinstance(window, int) and window > 1 else m


def _safetensors_licence(path: Path) -> str:
    """The 'license'/'licence' entry of a .safetensors file's metadata header, else ''."""
    if path.suffix.lower() != ".safetensors":
        return ""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return str(meta.get("license") or meta.get("licence") or "")[:200]


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(i, (bool, int, float, str)) for i in v):
            out[k] = list(v)
        else:
            out[k] = v.__name__ if isinstance(v, type) else str(v)
    return out


def _licence(data: Any) -> str:
    """A licence the file states (a top-level 'license'/'licence' string entry), else ''."""
    if isinstance(data, dict):
        for key in ("license", "licence"):
            v = data.get(key)
            if isinstance(v, str):
                return v[:200]
    return ""

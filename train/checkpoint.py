"""Checkpoints: one self-describing file, written atomically, loaded with
``torch.load(weights_only=True)``.

Contents: ``format``, ``edgesr_version``, ``spec`` (a ``ModelSpec`` dict), ``phase``,
``step``, ``generator`` (state dict), and for resumable training checkpoints
``discriminator``, ``optim_g``, ``optim_d``, ``sched_g``, ``sched_d``, ``config`` and
``rng`` (RNG states). A shipped or exported-from checkpoint may hold only the first six.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Any

import torch

from edgesr import __version__
from edgesr.artifact import atomic_write
from edgesr.errors import BadInputError, IncompatibleArtifactError
from edgesr.spec import ModelSpec
from edgesr.train.arch import SRResNet, build_generator

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (must hold ``spec`` and ``generator``) atomically: temp file + rename."""
    p = Path(path)
    data = {"format": CHECKPOINT_FORMAT, "edgesr_version": __version__, **state}
    if isinstance(data["spec"], ModelSpec):
        data["spec"] = data["spec"].to_dict()
    with atomic_write(p, "checkpoint") as tmp:
        try:
            torch.save(data, tmp)
        except RuntimeError as exc:  # torch's zip writer reports a full disk as a RuntimeError
            code = _write_errno(tmp)
            why = os.strerror(code) if code != errno.EIO else str(exc).strip().splitlines()[0][:120]
            raise OSError(code, why) from None
    return p


def _write_errno(p: Path) -> int:
    """ENOSPC when the filesystem is (nearly) full, else EIO."""
    try:
        st = os.statvfs(p.parent)
        return errno.ENOSPC if st.f_bavail * st.f_frsize < 1 << 20 else errno.EIO
    except OSError:
        return errno.EIO


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a checkpoint; ``spec`` comes back as a ``ModelSpec``."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"checkpoint not found: {p}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise torch_load_error(p, exc, "edgesr checkpoint") from None
    if not isinstance(data, dict) or "spec" not in data or "generator" not in data:
        raise IncompatibleArtifactError(f"{p} is not an edgesr checkpoint (no model spec inside)")
    fmt = data.get("format", 0)
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise IncompatibleArtifactError(f"{p} is a malformed edgesr checkpoint: format {fmt!r} is not a number")
    if fmt > CHECKPOINT_FORMAT:
        raise IncompatibleArtifactError(f"{p} was written by a newer edgesr: upgrade edgesr")
    _check_generator(p, data["generator"])
    try:
        data["spec"] = ModelSpec.from_dict(data["spec"])
    except IncompatibleArtifactError:
        raise
    except Exception as exc:  # a spec that is not a dict, lacks keys, or holds values of the wrong type
        raise IncompatibleArtifactError(f"{p} is a malformed edgesr checkpoint: bad model spec ({exc})") from None
    if "step" in data and (not isinstance(data["step"], int) or isinstance(data["step"], bool) or data["step"] < 0):
        raise IncompatibleArtifactError(f"{p} is a malformed edgesr checkpoint: step {data['step']!r}")
    return data


def _check_generator(p: Path, generator: Any) -> None:
    """Weights are a dict of tensors, all finite: NaN/inf weights give garbage, never a model."""
    if not isinstance(generator, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in generator.items()
    ):
        raise IncompatibleArtifactError(f"{p} is a malformed edgesr checkpoint: 'generator' is not a dict of tensors")
    bad = [k for k, v in generator.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise IncompatibleArtifactError(
            f"{p} holds NaN or infinite weights ({bad[0]}{' and more' if len(bad) > 1 else ''}): "
            "the run that wrote it diverged; use an earlier checkpoint"
        )


RESUME_KEYS = {"config": dict, "optim_g": dict, "sched_g": dict, "rng": dict}


def check_resumable(path: str | os.PathLike[str], ckpt: dict[str, Any]) -> None:
    """``ckpt`` holds everything ``--resume`` restores, each of the right kind; else one line."""
    if "config" not in ckpt or "optim_g" not in ckpt:
        raise IncompatibleArtifactError(f"{path} is a weights-only checkpoint and cannot be resumed")
    for key, kind in RESUME_KEYS.items():
        if not isinstance(ckpt.get(key), kind):
            raise IncompatibleArtifactError(f"{path} cannot be resumed: '{key}' is missing or malformed")
    if "step" not in ckpt:
        raise IncompatibleArtifactError(f"{path} cannot be resumed: 'step' is missing")
    rng, sched = ckpt["rng"], ckpt["sched_g"]
    if not isinstance(rng.get("torch"), torch.Tensor) or "sampler" not in rng:
        raise IncompatibleArtifactError(f"{path} cannot be resumed: its RNG state is missing or malformed")
    if not isinstance(sched.get("elapsed"), (int, float)) or isinstance(sched.get("elapsed"), bool):
        raise IncompatibleArtifactError(f"{path} cannot be resumed: its schedule state is malformed")
    for key in ("discriminator", "optim_d"):
        if key in ckpt and ckpt[key] is not None and not isinstance(ckpt[key], dict):
            raise IncompatibleArtifactError(f"{path} cannot be resumed: '{key}' is malformed")


def torch_load_error(p: Path, exc: Exception, what: str) -> IncompatibleArtifactError:
    """One line for a failed ``torch.load(weights_only=True)``: edgesr's own words, never torch's advice to
    re-run with ``weights_only=False`` (which would execute whatever the file holds)."""
    text = str(exc)
    if "Unsupported global" in text or "Unsupported class" in text:  # torch's weights_only refusal
        return IncompatibleArtifactError(
            f"{p} is not a trusted {what}: it holds Python objects beyond tensors and plain data, "
            "which edgesr never unpickles"
        )
    cause = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)  # not torch's advice around it
    first = cause.group(1).strip() if cause else (text.strip().splitlines() or [type(exc).__name__])[0]
    if first.startswith("Weights only load failed"):
        first = "it cannot be loaded as plain tensors and data"
    if first.startswith("Unsupported operand"):
        first = f"not a PyTorch file ({first})"
    if len(first) > 160:
        first = first[:160].rsplit(" ", 1)[0] + " ..."
    return IncompatibleArtifactError(f"{p} is not a readable {what}: {first}")


def load_generator(path: str | os.PathLike[str], expect_scale: int | None = None) -> SRResNet:
    """Rebuild the generator from the checkpoint's own spec, in eval mode on the CPU."""
    data = load_checkpoint(path)
    spec: ModelSpec = data["spec"]
    if expect_scale is not None and spec.scale != expect_scale:
        raise IncompatibleArtifactError(
            f"{Path(path).name} is a x{spec.scale} model, but x{expect_scale} was asked for"
        )
    model = build_generator(spec)
    try:
        model.load_state_dict(data["generator"])
    except RuntimeError as exc:
        raise IncompatibleArtifactError(
            f"{path}: weights do not match its spec {spec.describe()}: {str(exc)[:200]}"
        ) from None
    return model.eval()


WEIGHTS_ONLY_KEYS = ("spec", "phase", "step", "config")


def save_weights_only(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Write a shippable copy of a training checkpoint: spec, generator (fp32), step, phase
    and config; no discriminator, optimiser or RNG state (about 1 MB for edge_s)."""
    data = load_checkpoint(src)
    state = {k: data[k] for k in WEIGHTS_ONLY_KEYS if k in data}
    state["generator"] = {
        k: (v.detach().float().clone() if v.is_floating_point() else v.detach().clone())
        for k, v in data["generator"].items()
    }
    return save_checkpoint(dst, state)

"""Checkpoints: one self-describing file, written atomically, loaded with
``torch.load(weights_only=True)``.

Contents: ``format``, ``edgesr_version``, ``spec`` (a ``ModelSpec`` dict), ``phase``,
``step``, ``generator`` (state dict), and for resumable training checkpoints
``discriminator``, ``optim_g``, ``optim_d``, ``sched_g``, ``sched_d``, ``config`` and
``rng`` (RNG states). A shipped or exported-from checkpoint may hold only the first six.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from edgesr import __version__
from edgesr.errors import BadInputError, IncompatibleArtifactError
from edgesr.spec import ModelSpec
from edgesr.train.arch import SRResNet, build_generator

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (must hold ``spec`` and ``generator``) atomically: temp file + rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CHECKPOINT_FORMAT, "edgesr_version": __version__, **state}
    if isinstance(data["spec"], ModelSpec):
        data["spec"] = data["spec"].to_dict()
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        torch.save(data, tmp)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write checkpoint {p}: {exc.strerror or exc}") from None
    return p


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a checkpoint; ``spec`` comes back as a ``ModelSpec``."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"checkpoint not found: {p}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IncompatibleArtifactError(f"{p} is not a readable edgesr checkpoint: {first[:200]}") from None
    if not isinstance(data, dict) or "spec" not in data or "generator" not in data:
        raise IncompatibleArtifactError(f"{p} is not an edgesr checkpoint (no model spec inside)")
    if int(data.get("format", 0)) > CHECKPOINT_FORMAT:
        raise IncompatibleArtifactError(f"{p} was written by a newer edgesr: upgrade edgesr")
    data["spec"] = ModelSpec.from_dict(data["spec"])
    return data


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

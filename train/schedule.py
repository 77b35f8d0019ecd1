"""Learning-rate schedules and mixed precision choice.

The lr is a pure function of the run's *progress* in [0, 1] (step / steps, or elapsed /
time budget when ``--time-budget`` ends the run earlier), so resuming restores it exactly
from the saved progress, and a time-limited run still decays to its floor.
"""

from __future__ import annotations

import math

import torch

from edgesr.machine import cpu_has_native_bf16


def lr_at(progress: float, base_lr: float, decay: str) -> float:
    p = min(max(progress, 0.0), 1.0)
    if decay == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * p))
    if decay == "step":  # the paper's SRGAN schedule: lr, then lr / 10 for the second half
        return base_lr if p < 0.5 else base_lr * 0.1
    if decay == "none":
        return base_lr
    raise ValueError(f"unknown decay {decay!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def autocast_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--amp`` on ``device`` (None: full fp32).

    auto: bf16 on CPUs with native bf16 (measured 1.6x faster steps, same loss curve),
    bf16 on CUDA GPUs that support it, else fp32."""
    if mode == "off":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_native_bf16() else None

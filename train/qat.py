"""Quantisation-aware fine-tuning: ``edgesr train --phase qat --init CKPT``.

Post-training INT8 (``build-engine --int8``) is the default and needs no training. When it
must keep convs in float to pass its gate (the long-trained shipped edge_s keeps both
sub-pixel convs, 39% of its MACs), a short fine-tune under simulated INT8 teaches the
weights to live with it: 40 minutes on the 2-core CPU took that model's default INT8 build
from 61% to 100% of the MACs at the same fidelity (49.16 / 46.38 dB vs FP32, was 49.38 / 46.59),
for 0.02 dB of FP32 Set5/Set14 (docs/precision.md).

The simulation is the arithmetic of the exported Q/DQ graph (``edgesr.export.int8``), on the
BatchNorm-folded model that export produces:

- every Conv's data input: symmetric per-tensor INT8, scale = amax / 127, amax fixed before
  the fine-tune at the 99.999th percentile of |x| on training crops (the default calibration);
- every Conv's weight: symmetric per-output-channel INT8, scale = max|W| / 127, recomputed
  from the current weights at every step (what ``quantize_qdq`` computes at export);
- straight-through gradients inside the range, none for clipped values.

Each step's loss is the mean of the pixel loss under simulated INT8 and in float
(``QatStep``): the same weights serve the FP32/FP16 engines too. Measured on the shipped
model, 30 minutes each: the INT8-only loss cost FP32 Set5/Set14 0.10/0.05 dB, the mean
0.04/0.03 dB, at the same INT8 fidelity (docs/precision.md).

Checkpoints hold the generator in the model spec's own form (BatchNorm layers set to the
identity), so ``export``, ``eval`` and ``build-engine`` read them like any other, and
``build-engine --int8`` calibrates again from its own images. It runs in float32: the
rounding must be exact, so bf16 autocast is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from edgesr.spec import ModelSpec
from edgesr.train.arch import SRResNet, build_generator, deploy_form, load_deployed

QMIN, QMAX = -128, 127
PERCENTILE = 99.999  # as build-engine's default calibration (export/calibration.py)
CALIB_BATCHES = 8
_SAMPLE_EVERY = 7  # calibration keeps every 7th |x| value: percentiles of millions, memory of a few


class FakeQuantConv(nn.Module):
    """A Conv2d whose input and weight pass through INT8 fake quantisation (see module doc)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.register_buffer("amax", torch.tensor(0.0))
        self.register_buffer("_zero", torch.tensor(0, dtype=torch.int32), persistent=False)
        self._seen: list[torch.Tensor] | None = None  # set while calibrating
        self.calibrated = False  # amax set (``calibrate``/``set_amax``): checked without reading the tensor
        self.quantize = True  # False: the plain float conv (``float_forward``)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._seen is not None:
            self._seen.append(x.detach().abs().flatten()[::_SAMPLE_EVERY].float().cpu())
            return self.conv(x)
        if not self.quantize:
            return self.conv(x)
        if not self.calibrated:
            raise RuntimeError("FakeQuantConv used before calibration")
        # scale as a tensor on the conv's device: no host round trip per conv on a GPU
        xq = torch.fake_quantize_per_tensor_affine(x.float(), self.amax / QMAX, self._zero, QMIN, QMAX)
        w = self.conv.weight
        scale = w.detach().abs().amax(dim=(1, 2, 3)).clamp_min(1e-12) / QMAX
        zero = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
        wq = torch.fake_quantize_per_channel_affine(w, scale, zero, 0, QMIN, QMAX)
        c = self.conv
        return nn.functional.conv2d(xq, wq, c.bias, c.stride, c.padding, c.dilation, c.groups)


def prepare(model: SRResNet) -> SRResNet:
    """A copy of ``model`` in its exported form (BatchNorm and RepConv branches folded) with every
    Conv2d wrapped (not yet calibrated)."""
    folded = deploy_form(model)
    _wrap(folded)
    return folded.train()


def _wrap(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, FakeQuantConv(child))
        else:
            _wrap(child)


def quant_convs(model: nn.Module) -> dict[str, FakeQuantConv]:
    """The wrapped convs by module name, in forward (= export) order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, FakeQuantConv)}


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[torch.Tensor], percentile: float = PERCENTILE) -> dict[str, float]:
    """Fix every conv's input amax at ``percentile`` of |x| over ``batches``; returns them."""
    convs = quant_convs(model)
    for m in convs.values():
        m._seen = []
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        model.train(was_training)
        seen = {name: m._seen for name, m in convs.items()}
        for m in convs.values():
            m._seen = None
    amax = {}
    for name in convs:
        values = torch.cat(seen[name]).numpy() if seen[name] else np.zeros(1, np.float32)
        amax[name] = max(float(np.percentile(values, percentile)), 1e-8)
    set_amax(model, amax)
    return amax_of(model)


@contextlib.contextmanager
def float_forward(model: nn.Module) -> Iterator[None]:
    """Within the block the prepared model computes in float (same weights, no fake quantisation)."""
    convs = list(quant_convs(model).values())
    for m in convs:
        m.quantize = False
    try:
        yield
    finally:
        for m in convs:
            m.quantize = True


def amax_of(model: nn.Module) -> dict[str, float]:
    return {name: float(m.amax) for name, m in quant_convs(model).items()}


def set_amax(model: nn.Module, amax: dict[str, float]) -> None:
    convs = quant_convs(model)
    if set(amax) != set(convs):
        raise ValueError(f"QAT ranges name {sorted(amax)}, the model has {sorted(convs)}")
    for name, value in amax.items():
        convs[name].amax.fill_(float(value))
        convs[name].calibrated = True


def spec_state_dict(model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """The prepared model's weights as a state dict of ``build_generator(spec)``: convs as
    trained, BatchNorm layers the identity in eval mode (so folding them again changes nothing)."""
    wrapped = set(quant_convs(model))
    trained = {_unwrapped(k, wrapped): v for k, v in model.state_dict().items() if not k.endswith(".amax")}
    reference = build_generator(spec)
    if spec.arch == "plain":  # no BatchNorm; each trained 3x3 conv goes back into its RepConv's branches
        load_deployed(reference, trained)
        return {k: v.detach().clone() for k, v in reference.state_dict().items()}
    eps_by_module = {name: m.eps for name, m in reference.named_modules() if isinstance(m, nn.BatchNorm2d)}
    out: dict[str, Any] = {}
    for key, ref in reference.state_dict().items():
        if key in trained:
            out[key] = trained[key].detach().clone()
            continue
        module, _, field = key.rpartition(".")
        if module not in eps_by_module:
            raise KeyError(f"no trained value for {key}")
        if field == "running_var":  # sqrt(var + eps) == 1: the identity
            out[key] = torch.full_like(ref, 1.0 - eps_by_module[module])
        elif field == "weight":
            out[key] = torch.ones_like(ref)
        elif field in ("bias", "running_mean"):
            out[key] = torch.zeros_like(ref)
        else:  # num_batches_tracked
            out[key] = ref.clone()
    return out


def _unwrapped(key: str, wrapped: set[str]) -> str:
    """``body.0.conv1.conv.weight`` (wrapper's inner conv) -> ``body.0.conv1.weight``."""
    module, _, field = key.rpartition(".")
    if module.endswith(".conv") and module[: -len(".conv")] in wrapped:
        return f"{module[: -len('.conv')]}.{field}"
    return key


def restore(spec: ModelSpec, state: dict[str, Any], amax: dict[str, float]) -> SRResNet:
    """The prepared, calibrated model from a QAT checkpoint's generator and ranges."""
    model = build_generator(spec)
    model.load_state_dict(state)
    prepared = prepare(model.eval())
    set_amax(prepared, amax)
    return prepared

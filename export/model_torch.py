"""The PyTorch side of an imported model: the module that is exported, its shape probe and MAC count."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgesr.runtime.runner import Runner
from edgesr.runtime.size_rule import padded_side


class ImportedModel(nn.Module):
    """A spandrel architecture's module with the call its descriptor makes (some add a noise-level
    channel, for example), taking and giving NCHW float32 in [0, 1]. ``spec`` is set by the importer.
    Inputs must already satisfy the size rule: the runtime pads them (``edgesr.runtime.size_rule``)."""

    spec: Any

    def __init__(self, model: nn.Module, call_fn: Callable[[Any, torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.model = model.eval()
        self.call_fn = call_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.call_fn is not None:
            return self.call_fn(self.model, x)
        return self.model(x)


def probe_output(
    module: nn.Module, channels: int, multiple: int, minimum: int
) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Run one random 32x40 input (rounded up to the size rule): (input HxW, output HxW, Conv/transposed-conv/
    Linear multiply-adds of the run; attention matmuls are not counted)."""
    h = padded_side(32, multiple, minimum)
    w = padded_side(40, multiple, minimum)
    total = [0]

    def hook(m: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        if isinstance(m, nn.ConvTranspose2d):  # weight [Cin, Cout/g, kh, kw]: MACs per input element
            total[0] += int(inputs[0].numel() * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3])
        elif isinstance(m, nn.Conv2d):
            total[0] += int(out.numel() * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3])
        elif isinstance(m, nn.Linear):
            total[0] += int(out.numel() * m.in_features)

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.inference_mode():
            y = module(torch.rand(1, channels, h, w))
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(y, torch.Tensor) or y.ndim != 4:
        return (h, w), (-1, -1), total[0]
    return (h, w), (int(y.shape[2]), int(y.shape[3])), total[0]


class TorchRunner(Runner):
    """A PyTorch model (an edgesr checkpoint or an imported file) behind the runner contract, FP32 on the CPU
    (or ``device``), so that eval and upscale treat model files like ONNX files and engines."""

    backend = "pytorch"
    precision = "fp32"
    profile = None

    def __init__(self, model: nn.Module, path: Path, device: str = "cpu") -> None:
        self.model = model.eval().to(device)
        self.device = device
        self.spec = model.spec  # type: ignore[assignment]
        self.path = Path(path)

    def _infer(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()

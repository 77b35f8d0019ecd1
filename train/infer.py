"""Run a generator on uint8 images (shared by eval, upscale, validation, export and bench).

``upscale_image`` tiles large inputs with an overlap wider than the network's receptive
field, so a tiled result equals the untiled one (BatchNorm is a per-pixel affine map in
eval mode) while memory stays bounded.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgesr.imageops import from_nchw, to_nchw
from edgesr.spec import ModelSpec

DEFAULT_TILE = 256  # LR pixels per tile side


def receptive_margin(spec: ModelSpec) -> int:
    """LR pixels of context one output pixel depends on (each side), rounded up."""
    if spec.arch == "plain":  # B + 2 3x3 convs at LR; the cubic image skip reads 2 LR pixels each side
        return spec.blocks + 2 + 2
    margin = 4 + 2 * spec.blocks + 1  # head 9x9, two 3x3 per block, body tail 3x3
    factor = 1
    for f in spec.upsample_factors:
        margin += -(-1 // factor)  # a 3x3 conv at the current resolution
        factor *= f
    return margin + -(-4 // factor)  # tail 9x9 at HR


@torch.inference_mode()
def run_tensor(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """NCHW float in [0, 1] -> NCHW float (unclipped), on the model's device."""
    device = next(model.parameters()).device
    return model(x.to(device)).float().cpu()


def upscale_image(model: nn.Module, lr: np.ndarray, tile: int | None = DEFAULT_TILE) -> np.ndarray:
    """uint8 HxWx3 LR -> uint8 (sH)x(sW)x3 SR. ``tile=None`` runs the whole image at once."""
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    s = spec.scale
    h, w = lr.shape[:2]
    x = torch.from_numpy(to_nchw(lr))
    if tile is None or (h <= tile and w <= tile):
        return from_nchw(run_tensor(model, x).numpy())[0]
    pad = receptive_margin(spec)
    out = np.zeros((1, 3, h * s, w * s), dtype=np.float32)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - pad), max(0, x0 - pad)
            yb, xb = min(h, y1 + pad), min(w, x1 + pad)
            sr = run_tensor(model, x[:, :, ya:yb, xa:xb]).numpy()
            oy, ox = (y0 - ya) * s, (x0 - xa) * s
            out[:, :, y0 * s : y1 * s, x0 * s : x1 * s] = sr[:, :, oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s]
    return from_nchw(out)[0]

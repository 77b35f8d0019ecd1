"""Progress pictures: a PNG grid bicubic | SR | HR of a fixed LR patch every K steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from edgesr.imageops import save_image, upscale_bicubic
from edgesr.pairs import ImagePair
from edgesr.train.infer import upscale_image

PREVIEW_LR = 64  # LR side of the preview patch


def preview_patch(pair: ImagePair, scale: int) -> ImagePair:
    """A fixed centre patch of ``pair`` (at most PREVIEW_LR LR pixels a side)."""
    h, w = pair.lr.shape[:2]
    ph, pw = min(h, PREVIEW_LR), min(w, PREVIEW_LR)
    y, x = (h - ph) // 2, (w - pw) // 2
    lr = pair.lr[y : y + ph, x : x + pw]
    hr = pair.hr[y * scale : (y + ph) * scale, x * scale : (x + pw) * scale]
    return ImagePair(pair.name, np.ascontiguousarray(hr), np.ascontiguousarray(lr), pair.gray)


def write_grid(path: Path, model: nn.Module, patch: ImagePair, scale: int) -> None:
    was_training = model.training
    model.eval()
    try:
        sr = upscale_image(model, patch.lr, tile=None)
    finally:
        model.train(was_training)
    gap = np.full((patch.hr.shape[0], 4, 3), 255, np.uint8)
    save_image(path, np.concatenate([upscale_bicubic(patch.lr, scale), gap, sr, gap, patch.hr], axis=1))

"""Inference on uint8 images: tiling gives exactly the untiled result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgesr.spec import edge_xs
from edgesr.train.arch import build_generator
from edgesr.train.infer import receptive_margin, upscale_image


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_whole_image(scale: int, rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    model = build_generator(edge_xs(scale)).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    lr = rng.integers(0, 256, size=(45, 61, 3), dtype=np.uint8)
    whole = upscale_image(model, lr, tile=None)
    tiled = upscale_image(model, lr, tile=16)  # 3 x 4 tiles, ragged at the edges
    assert whole.shape == (45 * scale, 61 * scale, 3) and whole.dtype == np.uint8
    # same numbers up to float rounding of different conv blockings (a rare +-1 after rounding)
    assert np.abs(tiled.astype(int) - whole).max() <= 1 and (tiled == whole).mean() > 0.999
    assert receptive_margin(edge_xs(scale)) < 45

"""``interpolation_init``: the untrained generator already upsamples smoothly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgesr.imageops import upscale_bicubic
from edgesr.metrics import psnr
from edgesr.samples import samples_dir
from edgesr.spec import edge_xs
from edgesr.train.arch import build_generator
from edgesr.train.data import load_pairs
from edgesr.train.infer import upscale_image
from edgesr.train.init import interpolation_init


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fresh_generator_interpolates(scale: int) -> None:
    torch.manual_seed(0)
    plain = build_generator(edge_xs(scale))
    model = interpolation_init(build_generator(edge_xs(scale)))
    assert plain.state_dict().keys() == model.state_dict().keys()
    pair = next(p for p in load_pairs(samples_dir("holdout"), scale) if p.name == "coins.png")  # a real photo
    sr = upscale_image(model.eval(), pair.lr)
    bicubic = psnr(upscale_bicubic(pair.lr, scale), pair.hr)
    # a smooth (B-spline-like) upsampler: a little blurrier than bicubic, far from a random network
    assert bicubic - 2.0 < psnr(sr, pair.hr) < bicubic
    assert psnr(sr, pair.hr) > psnr(upscale_image(plain.eval(), pair.lr), pair.hr) + 10
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():  # batch statistics cannot disturb the interpolating path
        torch.testing.assert_close(model.train()(x), model.eval()(x))


def test_everything_still_learns() -> None:
    torch.manual_seed(0)
    model = interpolation_init(build_generator(edge_xs(4))).train()
    loss = (model(torch.rand(2, 3, 12, 12)) - torch.rand(2, 3, 48, 48)).abs().mean()
    loss.backward()
    zero_grad = [n for n, p in model.named_parameters() if p.grad is None or not np.any(p.grad.numpy())]
    # parameters behind a zero-initialised weight get gradient from the second step on
    assert set(zero_grad) <= {n for n, _ in model.named_parameters() if n.startswith(("body", "head", "upsample"))}
    assert model.tail.weight.grad is not None and model.tail.weight.grad[:, 3:].abs().sum() > 0

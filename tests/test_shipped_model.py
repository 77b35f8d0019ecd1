"""The model shipped inside the package: present, self-describing, its ONNX equal to its
checkpoint, and better than bicubic (the README's table comes from benchmarks/eval_shipped.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesr.imageops import (
    downscale,
    from_nchw,
    list_images,
    load_image,
    mod_crop,
    read_image,
    to_nchw,
    upscale_bicubic,
)
from edgesr.metrics import psnr, sr_psnr_ssim
from edgesr.pretrained import default_checkpoint, default_onnx
from edgesr.runtime import open_runner
from edgesr.samples import samples_dir


def test_shipped_onnx_is_the_export_of_the_shipped_checkpoint() -> None:
    torch = pytest.importorskip("torch")
    from edgesr.train.checkpoint import load_generator

    model = load_generator(default_checkpoint())
    img = mod_crop(load_image(list_images(samples_dir("holdout"))[0]), 4)[:256, :256]
    x = to_nchw(downscale(img, 4))
    with torch.no_grad():
        ref = from_nchw(model(torch.from_numpy(x)).numpy())
    with open_runner(default_onnx()) as runner:
        assert runner.spec == model.spec
        out = from_nchw(runner.infer(x))
    assert psnr(out, ref) >= 60.0


def test_shipped_model_beats_bicubic_on_set5(set5: Path) -> None:
    gains = []
    with open_runner(default_onnx()) as runner:
        assert runner.spec.scale == 4
        for path in list_images(set5):
            hr, gray = read_image(path)
            hr = mod_crop(hr, 4)
            lr = downscale(hr, 4)
            sr = from_nchw(runner.infer(to_nchw(lr)))[0]
            gains.append(sr_psnr_ssim(sr, hr, 4, gray)[0] - sr_psnr_ssim(upscale_bicubic(lr, 4), hr, 4, gray)[0])
    assert float(np.mean(gains)) >= 1.0

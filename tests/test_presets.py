"""Every preset (timm style: the tests iterate ``PRESETS``): the spec's parameter and MAC counts are
those of the model ``build_generator`` makes and of the ONNX graph ``export`` writes, and tiling
with the spec's receptive margin gives the untiled result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgesr.spec import PRESETS, preset
from edgesr.train.arch import build_generator
from edgesr.train.infer import receptive_margin, upscale_image


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", list(PRESETS))
def test_spec_counts_the_parameters_it_builds(name: str, scale: int) -> None:
    skip = "none" if name == "srresnet" else "bicubic"
    spec = preset(name, scale, skip)
    assert spec.num_params() == sum(p.numel() for p in build_generator(spec).parameters())


@pytest.mark.parametrize(
    "name,skip", [(n, s) for n in PRESETS for s in ("none", "bicubic") if n != "srresnet" or s == "none"]
)
def test_spec_macs_are_the_exported_graphs(name: str, skip: str) -> None:
    """MACs per output pixel from the spec's formula = the exported Conv MACs (``conv_macs``, the
    counter behind the INT8 gate's MAC share) / output pixels, plus the cubic skip's 16 per channel."""
    from edgesr.export.int8_search import conv_macs
    from edgesr.export.onnx_export import to_onnx

    spec = preset(name, 4, skip)
    proto = to_onnx(build_generator(spec).eval())
    h, w = 16, 24
    per_px = sum(conv_macs(proto, (h, w)).values()) / (h * w * 16)
    assert spec.macs_per_output_pixel() == pytest.approx(per_px + (48 if skip == "bicubic" else 0), rel=1e-9)


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "srresnet"])
def test_tiled_equals_whole_image(name: str, rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    spec = preset(name, 3, "bicubic")
    model = build_generator(spec).eval()
    with torch.no_grad():  # weights that make every pixel of the receptive field count
        for p in model.parameters():
            p.normal_(0, 0.02)
    lr = rng.integers(0, 256, size=(41, 53, 3), dtype=np.uint8)
    whole = upscale_image(model, lr, tile=None)
    tiled = upscale_image(model, lr, tile=16)
    assert np.abs(tiled.astype(int) - whole).max() <= 1 and (tiled == whole).mean() > 0.999
    assert receptive_margin(spec) < 41

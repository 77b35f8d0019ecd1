"""The image skip of the edge presets: output = trunk(x) + upsample(x), in PyTorch and in ONNX."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from edgesr.errors import IncompatibleArtifactError, UsageError
from edgesr.imageops import upscale_bicubic
from edgesr.metrics import psnr
from edgesr.samples import samples_dir
from edgesr.spec import ModelSpec, edge_s, edge_xs, preset
from edgesr.train.arch import build_generator
from edgesr.train.data import load_pairs
from edgesr.train.infer import upscale_image
from edgesr.train.init import interpolation_init


@pytest.mark.parametrize("skip", ["nearest", "bicubic"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_untrained_model_with_a_skip_is_exactly_the_interpolator(skip: str, scale: int) -> None:
    torch.manual_seed(0)
    model = interpolation_init(build_generator(edge_xs(scale, image_skip=skip))).eval()
    x = torch.rand(1, 3, 10, 12)
    mode = {"nearest": {"mode": "nearest"}, "bicubic": {"mode": "bicubic", "align_corners": False}}[skip]
    with torch.no_grad():
        expected = torch.nn.functional.interpolate(x, scale_factor=scale, **mode)  # type: ignore[arg-type]
        torch.testing.assert_close(model(x), expected)
    # and the image does not pass through the trunk: its head keeps the random init
    assert model.head[0].weight[:3].abs().sum() > 0


def test_bicubic_skip_scores_like_bicubic_before_training() -> None:
    pair = next(p for p in load_pairs(samples_dir("holdout"), 4) if p.name == "coins.png")
    model = interpolation_init(build_generator(edge_s(4, image_skip="bicubic"))).eval()
    sr = upscale_image(model, pair.lr)
    # PyTorch's a = -0.75 cubic without antialiasing vs MATLAB's: within a few tenths of a dB
    assert psnr(sr, pair.hr) == pytest.approx(psnr(upscale_bicubic(pair.lr, 4), pair.hr), abs=0.5)


def test_spec_carries_the_skip_and_old_specs_read_as_none() -> None:
    spec = preset("edge_s", 4, "nearest")
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert "nearest image skip" in spec.describe()
    old = {k: v for k, v in edge_s(4).to_dict().items() if k != "image_skip"}
    assert ModelSpec.from_dict(old).image_skip == "none"
    assert spec.num_params() == edge_s(4).num_params() == sum(
        p.numel() for p in build_generator(spec).parameters()
    )
    with pytest.raises(UsageError, match="srresnet preset"):
        preset("srresnet", 4, "bicubic")
    with pytest.raises(UsageError):
        ModelSpec.from_dict({**spec.to_dict(), "image_skip": "lanczos"})
    with pytest.raises(IncompatibleArtifactError):
        ModelSpec.from_dict({**spec.to_dict(), "future_field": 1})


@pytest.mark.parametrize("skip,mode", [("nearest", b"nearest"), ("bicubic", b"cubic")])
def test_export_has_one_resize_and_matches_pytorch(tmp_path: Path, skip: str, mode: bytes) -> None:
    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.train.checkpoint import save_checkpoint

    torch.manual_seed(1)
    model = interpolation_init(build_generator(edge_xs(4, image_skip=skip)))
    with torch.no_grad():
        model.tail.weight.normal_(0, 0.02)  # a trunk that contributes
    ckpt = save_checkpoint(tmp_path / "m.pt", {"spec": model.spec, "generator": model.state_dict(), "step": 0})
    result = export_onnx(ckpt, tmp_path / "m.onnx", ExportConfig())
    assert result.parity.worst_psnr_db >= 60
    graph = onnx.load(str(result.path)).graph
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    assert len(resizes) == 1
    assert {a.name: a.s for a in resizes[0].attribute}["mode"] == mode
    assert resizes[0].input[0] == graph.input[0].name  # straight from the image, never via the trunk

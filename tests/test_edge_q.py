"""edge_q, the INT8-friendly plain preset: within its compute budget, re-parameterised branches fold
into one conv with the same function (PyTorch, ONNX, QAT), and its graph holds only ops that
TensorRT fuses with INT8 convs, every conv quantised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from export_helpers import SMALL_PROFILE, cli

from edgesr.imageops import to_nchw
from edgesr.samples import samples_dir
from edgesr.spec import edge_q, edge_s, preset
from edgesr.train import qat
from edgesr.train.arch import PlainSR, RepConv, build_generator, deploy_form, load_deployed
from edgesr.train.checkpoint import save_checkpoint
from edgesr.train.data import load_pairs
from edgesr.train.init import interpolation_init

DEPLOYED_OPS = {"Conv", "Relu", "DepthToSpace", "Resize", "Add", "Constant"}  # Constant: the Resize scales


def _trained_like(scale: int = 4, skip: str = "bicubic", seed: int = 0) -> PlainSR:
    """Every branch non-zero (a fresh tail is zero), so the folds are really exercised."""
    torch.manual_seed(seed)
    model = build_generator(preset("edge_q", scale, skip))
    assert isinstance(model, PlainSR)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    return model.eval()


def _photo(side: int = 48) -> torch.Tensor:
    pair = next(p for p in load_pairs(samples_dir("holdout"), 4) if p.name == "coins.png")
    return torch.from_numpy(to_nchw(pair.lr[:side, :side]))


def test_budget_is_under_half_of_edge_s_at_x4() -> None:
    spec = edge_q(4, "bicubic")
    assert spec.macs_per_output_pixel() <= 15_000
    assert spec.macs_per_output_pixel() < edge_s(4, "bicubic").macs_per_output_pixel() / 2
    assert spec.upsample_factors == (4,) and edge_q(3).upsample_factors == (3,)


@pytest.mark.parametrize("identity", [False, True])
def test_repconv_folds_into_one_conv_and_back(identity: bool) -> None:
    torch.manual_seed(0)
    rep = RepConv(8, 8, identity=identity)
    x = torch.randn(2, 8, 11, 13)
    with torch.no_grad():
        fused = rep.fused()
        torch.testing.assert_close(fused(x), rep(x), rtol=0, atol=1e-5)
        back = RepConv(8, 8, identity=identity)
        back.load_fused(fused.weight, fused.bias)
        torch.testing.assert_close(back(x), rep(x), rtol=0, atol=1e-5)
    assert fused.kernel_size == (3, 3)
    with pytest.raises(ValueError, match="identity"):
        RepConv(3, 8, identity=True)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_deploy_form_is_the_same_function_on_a_photo(scale: int) -> None:
    model = _trained_like(scale)
    x = _photo()
    deployed = deploy_form(model)
    assert not [m for m in deployed.modules() if isinstance(m, RepConv)]
    assert sum(isinstance(m, torch.nn.Conv2d) for m in deployed.modules()) == model.spec.blocks + 2
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), model(x), rtol=0, atol=2e-5)
        back = build_generator(model.spec).eval()
        load_deployed(back, deployed.state_dict())
        torch.testing.assert_close(back(x), model(x), rtol=0, atol=2e-5)


@pytest.mark.parametrize("scale,skip", [(2, "nearest"), (3, "bicubic"), (4, "bicubic")])
def test_export_is_one_conv_per_layer_and_one_depth_to_space(tmp_path: Path, scale: int, skip: str) -> None:
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    model = _trained_like(scale, skip)
    ckpt = save_checkpoint(tmp_path / "q.pt", {"spec": model.spec, "generator": model.state_dict(), "step": 0})
    result = export_onnx(ckpt, tmp_path / "q.onnx", ExportConfig(parity_sizes=((24, 32),)))
    assert result.parity.worst_psnr_db >= 60  # ONNX Runtime vs the multi-branch PyTorch model, real photos
    nodes = onnx.load(str(result.path)).graph.node
    ops = [n.op_type for n in nodes]
    assert set(ops) <= DEPLOYED_OPS, set(ops) - DEPLOYED_OPS
    assert ops.count("Conv") == model.spec.blocks + 2 and ops.count("Relu") == model.spec.blocks + 1
    assert ops.count("DepthToSpace") == 1 and ops.count("Resize") == 1
    d2s = next(n for n in nodes if n.op_type == "DepthToSpace")
    assert {a.name: a.i for a in d2s.attribute if a.name == "blocksize"} == {"blocksize": scale}


def test_qat_simulates_the_exported_convs_and_maps_back_to_branches() -> None:
    """QAT fake-quantises the folded convs, one per exported Conv, and its checkpoint (training form)
    is the same function as the fine-tuned folded model."""
    from edgesr.export.onnx_export import to_onnx

    model = _trained_like()
    prepared = qat.prepare(model)
    rng = np.random.default_rng(0)
    amax = qat.calibrate(prepared, [torch.from_numpy(rng.random((2, 3, 24, 24), np.float32))])
    convs = [n.name for n in to_onnx(model).graph.node if n.op_type == "Conv"]
    assert len(convs) == len(amax) == model.spec.blocks + 2
    assert [c.split("/")[-2] for c in convs] == list(amax)  # same layers, same order
    with torch.no_grad():  # a fine-tune step's worth of change to every folded conv
        for m in qat.quant_convs(prepared).values():
            m.conv.weight.add_(0.01 * torch.randn_like(m.conv.weight))
    back = build_generator(model.spec).eval()
    back.load_state_dict(qat.spec_state_dict(prepared, model.spec))
    x = _photo(32)
    with torch.no_grad(), qat.float_forward(prepared):
        torch.testing.assert_close(back(x), prepared.eval()(x), rtol=0, atol=2e-5)


@pytest.mark.parametrize("skip", ["nearest", "bicubic"])
def test_untrained_edge_q_with_a_skip_is_the_interpolator(skip: str) -> None:
    model = interpolation_init(build_generator(edge_q(4, skip))).eval()
    x = torch.rand(1, 3, 10, 12)
    mode = {"nearest": {"mode": "nearest"}, "bicubic": {"mode": "bicubic", "align_corners": False}}[skip]
    with torch.no_grad():
        expected = torch.nn.functional.interpolate(x, scale_factor=4, **mode)  # type: ignore[arg-type]
        torch.testing.assert_close(model(x), expected)


def test_portable_int8_quantises_every_conv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``build-engine --int8 --backend onnx --int8-keep none``: a Q/DQ pair on every Conv's data and
    weight, nothing else quantised, and TensorRT's Q/DQ rules hold."""
    from edgesr.export.int8 import qdq_summary, trt_qdq_violations
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    model = _trained_like()
    ckpt = save_checkpoint(tmp_path / "q.pt", {"spec": model.spec, "generator": model.state_dict(), "step": 0})
    fp32 = export_onnx(ckpt, tmp_path / "q.onnx", ExportConfig(parity_sizes=((24, 32),))).path
    out = tmp_path / "q.int8.qdq.onnx"
    code, _, err = cli(capsys, "build-engine", fp32, "-o", out, "--backend", "onnx", *SMALL_PROFILE,
                       "--int8", "--calib-images", "2", "--int8-keep", "none", "--force")
    assert code == 0, err
    qdq = onnx.load(str(out))
    assert trt_qdq_violations(qdq) == []
    n_conv = model.spec.blocks + 2
    assert qdq_summary(qdq)["dequantize_feeds"] == {"Conv.input": n_conv, "Conv.weight": n_conv}
    report = json.loads(out.with_name(out.name + ".gate.json").read_text())
    assert report["int8"]["int8_mac_share"] == 1.0


SHIPPED = "edgesr_edge_q_x4"


def test_shipped_edge_q_onnx_is_its_checkpoints_export_and_beats_bicubic(set5: Path) -> None:
    from edgesr.imageops import downscale, from_nchw, list_images, mod_crop, read_image, upscale_bicubic
    from edgesr.metrics import psnr, sr_psnr_ssim
    from edgesr.pretrained import WEIGHTS_DIR
    from edgesr.runtime import open_runner
    from edgesr.train.checkpoint import load_generator

    model = load_generator(WEIGHTS_DIR / f"{SHIPPED}.pt")
    assert model.spec == edge_q(4, "bicubic")
    gains, ours = [], []
    with open_runner(WEIGHTS_DIR / f"{SHIPPED}.onnx") as runner:
        assert runner.spec == model.spec
        for path in list_images(set5):
            hr, gray = read_image(path)
            lr = downscale(mod_crop(hr, 4), 4)
            sr = from_nchw(runner.infer(to_nchw(lr)))[0]
            with torch.no_grad():
                assert psnr(sr, from_nchw(model(torch.from_numpy(to_nchw(lr))).numpy())[0]) >= 60.0
            ours.append(sr_psnr_ssim(sr, mod_crop(hr, 4), 4, gray)[0])
            gains.append(ours[-1] - sr_psnr_ssim(upscale_bicubic(lr, 4), mod_crop(hr, 4), 4, gray)[0])
    assert np.mean(ours) >= 31.1 and np.mean(gains) >= 2.0  # 31.27 dB measured (docs/edge-preset.md)


def test_shipped_edge_q_int8_is_all_int8_and_passed_every_content_class() -> None:
    """The shipped INT8 file quantises every conv (`--int8-keep none`, 100% of MACs) and passed the gate on every
    content class at >= 45 dB mean vs FP32 (the preset's target; docs/edge-preset.md), in TensorRT's Q/DQ form."""
    from edgesr.artifact import read_sidecar
    from edgesr.export.int8 import qdq_summary, trt_qdq_violations
    from edgesr.zoo import shipped

    model = shipped("edge_q")
    path = model.path("int8")
    assert model.to_dict()["int8_onnx"] == str(path)
    qdq = onnx.load(str(path))
    assert {p.key: p.value for p in qdq.metadata_props}["edgesr.precision"] == "int8"
    assert trt_qdq_violations(qdq) == []
    n_conv = edge_q(4).blocks + 2
    assert qdq_summary(qdq)["dequantize_feeds"] == {"Conv.input": n_conv, "Conv.weight": n_conv}
    sidecar = read_sidecar(path)
    assert sidecar.reference_onnx == model.path("onnx").name
    report = json.loads((path.parent / sidecar.gate["report"]).read_text())
    assert report["passed"] and report["failed_classes"] == [] and not report["forced"]
    assert set(report["classes"]) == {"natural", "overlay_text", "synthetic_graphics"}
    assert all(c["worst_psnr_db"] >= report["min_psnr_db"] for c in report["classes"].values())
    assert report["int8"]["keep_float"] == "none" and report["int8"]["int8_mac_share"] == 1.0
    assert report["mean_psnr_db"] >= 45.0


def _exact_int8_vs_fp32(lr: np.ndarray) -> float:
    from edgesr.export.gate import exact_qdq_session
    from edgesr.imageops import from_nchw
    from edgesr.metrics import psnr
    from edgesr.runtime import open_runner
    from edgesr.zoo import shipped

    model = shipped("edge_q")
    x = to_nchw(lr)
    session = exact_qdq_session(model.path("int8"))
    int8 = from_nchw(session.run(None, {session.get_inputs()[0].name: x})[0])
    with open_runner(model.path("onnx")) as runner:
        fp32 = from_nchw(runner.infer(x))
    return psnr(int8, fp32)


def test_shipped_edge_q_int8_holds_on_a_slide_nobody_generated_here(set14: Path) -> None:
    """Its QAT saw synthetic overlay and graphics frames from ``edgesr.synthetic``; Set14's ``ppt3`` (a slide: text,
    flat colour, hard edges) comes from nowhere near that generator. Exact Q/DQ arithmetic (what TensorRT computes)
    vs FP32: 46.46 dB measured (the photo-only QAT's all-INT8 build: 43.87 dB; docs/edge-preset.md)."""
    from edgesr.imageops import downscale, load_image, mod_crop

    assert _exact_int8_vs_fp32(downscale(mod_crop(load_image(set14 / "ppt3.png"), 4), 4)) >= 45.5


def test_shipped_edge_q_keeps_its_set14_quality_on_the_slide_too(set14: Path) -> None:
    """QAT on synthetic graphics whose HR was the nearest-upscaled drawing taught the model to draw text as blocks
    (Set14 ppt3 FP32 25.67 -> 22.89 dB); the shipped QAT's synthetic targets are the model's own output instead.
    Set14 mean and ppt3, FP32 ONNX (25.50 / 27.94 dB measured)."""
    from edgesr.imageops import downscale, from_nchw, list_images, mod_crop, read_image
    from edgesr.metrics import sr_psnr_ssim
    from edgesr.runtime import open_runner
    from edgesr.zoo import shipped

    scores = {}
    with open_runner(shipped("edge_q").path("onnx")) as runner:
        for path in list_images(set14):
            hr, gray = read_image(path)
            hr = mod_crop(hr, 4)
            sr = from_nchw(runner.infer(to_nchw(downscale(hr, 4))))[0]
            scores[path.stem] = sr_psnr_ssim(sr, hr, 4, gray)[0]
    assert scores["ppt3"] >= 25.3 and np.mean(list(scores.values())) >= 27.85

"""``--phase qat``: the fake quantisation is the exported Q/DQ graph's arithmetic, checkpoints
are ordinary spec-form generators, runs resume exactly, and conflicting flags are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY, image_folder

from edgesr.errors import IncompatibleArtifactError, UsageError
from edgesr.spec import preset
from edgesr.train import qat
from edgesr.train.arch import build_generator
from edgesr.train.checkpoint import load_checkpoint, load_generator
from edgesr.train.config import TrainConfig
from edgesr.train.loop import run_training


def _trained_like(spec_skip: str = "bicubic", seed: int = 0) -> torch.nn.Module:
    """An edge_xs whose BatchNorms are not the identity (as after training), in eval mode."""
    torch.manual_seed(seed)
    g = build_generator(preset("edge_xs", 4, spec_skip))
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return g.eval()


def test_fake_quant_is_the_exported_qdq_arithmetic() -> None:
    """Same ranges -> the prepared model and the Q/DQ ONNX that build-engine writes agree, run by
    ONNX Runtime with Q/DQ fusion off (the arithmetic TensorRT implements)."""
    import onnxruntime as ort

    from edgesr.export.int8 import conv_names, quantized_graph
    from edgesr.export.onnx_export import to_onnx

    g = _trained_like()
    prepared = qat.prepare(g)
    rng = np.random.default_rng(0)
    amax = qat.calibrate(prepared, [torch.from_numpy(rng.random((2, 3, 24, 24), np.float32)) for _ in range(3)])
    proto = to_onnx(g)
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert len(convs) == len(amax)  # one fake-quantised input per exported Conv, in forward order
    ranges = {n.input[0]: (-a, a) for n, a in zip(convs, amax.values(), strict=True)}
    qdq = quantized_graph(proto, ranges, [])
    assert len([n for n in qdq.graph.node if n.op_type == "QuantizeLinear"]) == 2 * len(conv_names(proto))
    so = ort.SessionOptions()
    so.add_session_config_entry("session.disable_quant_qdq", "1")
    sess = ort.InferenceSession(qdq.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    x = rng.random((1, 3, 20, 28), np.float32)
    onnx_out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    prepared.eval()
    with torch.no_grad():
        torch_out = prepared(torch.from_numpy(x)).numpy()
        float_out = g(torch.from_numpy(x)).numpy()
        with qat.float_forward(prepared):  # the float pass of each QAT step: the same function as before
            np.testing.assert_allclose(prepared(torch.from_numpy(x)).numpy(), float_out, atol=1e-5)
    np.testing.assert_allclose(torch_out, onnx_out, atol=2e-5)
    assert np.abs(torch_out - float_out).max() > 1e-3  # it does quantise


def test_qat_uses_build_engines_int8_constants() -> None:
    """train/ may not import export/: the two constants it mirrors are checked here instead."""
    from edgesr.export.calibration import CalibrationConfig
    from edgesr.export.int8 import QMAX

    assert qat.QMAX == QMAX and qat.PERCENTILE == CalibrationConfig().percentile
    assert CalibrationConfig().method == "percentile"


def test_spec_state_dict_round_trips_to_the_same_function() -> None:
    g = _trained_like()
    prepared = qat.prepare(g)
    back = build_generator(g.spec)
    back.load_state_dict(qat.spec_state_dict(prepared, g.spec))
    back.eval()
    x = torch.rand(1, 3, 17, 23)
    with torch.no_grad():
        torch.testing.assert_close(back(x), g(x), rtol=0, atol=1e-5)
    bns = [m for m in back.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(torch.all(m.weight == 1) and torch.all(m.running_mean == 0) for m in bns)


def test_calibrate_sets_the_percentile_of_each_conv_input() -> None:
    g = _trained_like()
    prepared = qat.prepare(g)
    x = torch.rand(1, 3, 32, 32)
    amax = qat.calibrate(prepared, [x], percentile=100.0)
    assert amax["head.0"] == pytest.approx(float(x.flatten()[:: qat._SAMPLE_EVERY].max()))  # the image itself
    assert all(v > 0 for v in amax.values()) and list(amax)[-1] == "tail"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "train", n=3)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    run = tmp_path_factory.mktemp("pre") / "run"
    result = run_training({**TINY, "image_skip": "bicubic", "data": str(data), "out": str(run), "steps": 2})
    return result.last_checkpoint


def test_qat_run_resumes_exactly_and_exports_like_any_checkpoint(tmp_path: Path, data: Path, pretrained: Path) -> None:
    base = {**TINY, "preset": None, "amp": None, "phase": "qat", "init": str(pretrained), "data": str(data),
            "steps": 4, "save_every": 100}
    straight = run_training({**base, "out": str(tmp_path / "a")})
    part = run_training({**base, "out": str(tmp_path / "b")}, stop_at=2)
    resumed = run_training({"out": str(tmp_path / "b")}, resume=True)
    assert straight.finished and resumed.finished and resumed.step == 4
    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    assert part.step == 2 and a["phase"] == "qat" and a["spec"].image_skip == "bicubic"  # spec from --init
    assert a["qat"]["amax"] == b["qat"]["amax"] and len(a["qat"]["amax"]) == 13
    for k, v in a["generator"].items():
        torch.testing.assert_close(b["generator"][k], v, rtol=0, atol=1e-6, msg=k)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    assert len(steps) == 4 and all(r["loss"] == pytest.approx((r["loss_int8"] + r["loss_float"]) / 2) for r in steps)
    assert all(r["loss_int8"] != r["loss_float"] for r in steps)
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (cfg["lr"], cfg["decay"], cfg["amp"]) == (1e-4, "cosine", "auto")
    # the weights moved, and the checkpoint is an ordinary generator (BatchNorm as the identity)
    before, after = load_generator(pretrained), load_generator(straight.last_checkpoint)
    assert not torch.allclose(before.head[0].weight, after.head[0].weight)
    from edgesr.export.onnx_export import to_onnx

    assert "BatchNormalization" not in {n.op_type for n in to_onnx(after).graph.node}


def test_qat_refusals(tmp_path: Path, data: Path, pretrained: Path) -> None:
    with pytest.raises(UsageError, match="--phase qat fine-tunes a trained model: pass --init"):
        TrainConfig(phase="qat").resolved()
    with pytest.raises(UsageError, match="drop --amp bf16"):
        TrainConfig(phase="qat", init="a.pt", amp="bf16").resolved()
    with pytest.raises(IncompatibleArtifactError, match="leave out --preset"):  # an explicit conflict is refused
        run_training({**TINY, "phase": "qat", "init": str(pretrained), "image_skip": "none", "data": str(data),
                      "out": str(tmp_path / "r")})

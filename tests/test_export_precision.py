"""Precision variants on the CPU: FP16 ONNX, INT8 Q/DQ ONNX in TensorRT's flavour (the graph is
inspected against TensorRT's rules here, independently of the builder's own check), the
``--int8-keep`` layers, and the calibration cache and methods."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_helpers import session_cache, tiny_checkpoint
from onnx import numpy_helper

from edgesr.artifact import ONNX_PRECISION_KEY
from edgesr.imageops import downscale, load_image, to_nchw
from edgesr.metrics import psnr

pytest.importorskip("torch", reason="export needs torch (edgesr[train])")

SMALL_CALIB = dict(images=3, shape=(32, 48))


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.export.onnx_io import open_edgesr_onnx

    root = tmp_path_factory.mktemp("precision")
    with session_cache(tmp_path_factory):
        result = export_onnx(tiny_checkpoint(root / "xs.pt"), root / "xs.onnx", ExportConfig(parity_sizes=((24, 32),)))
    return open_edgesr_onnx(result.path)


@pytest.fixture(scope="module")
def photo_lr(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    from edgesr.samples import samples_dir

    with session_cache(tmp_path_factory):
        hr = load_image(samples_dir("holdout") / "camera.png")[:192, :256]
    return to_nchw(downscale(hr, 4))


def run(model: onnx.ModelProto | Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {"lr": x})[0]


def test_fp16_keeps_float32_io_and_agrees_with_fp32(fp32, photo_lr: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.fp16 import to_fp16

    model = to_fp16(fp32)
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    dtypes = {i.data_type for i in model.graph.initializer if i.name in conv_weights}
    assert dtypes == {onnx.TensorProto.FLOAT16}
    assert {p.key: p.value for p in model.metadata_props}[ONNX_PRECISION_KEY] == "fp16"
    a, b = run(fp32.path, photo_lr), run(model, photo_lr)
    assert np.all(np.isfinite(b))
    assert psnr(np.clip(a, 0, 1), np.clip(b, 0, 1), 1.0) > 50


@pytest.fixture(scope="module")
def calibration(fp32, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from edgesr.export.calibration import CalibrationConfig, calibrate

    with session_cache(tmp_path_factory):
        return calibrate(fp32.path, CalibrationConfig(**SMALL_CALIB))


def _consts(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def assert_tensorrt_qdq_rules(model: onnx.ModelProto) -> None:
    """TensorRT 8.5-11.x explicit quantisation: signed INT8, zero points 0, three inputs,
    per-tensor activations, per-channel weights on axis 0, no INT32 bias through DQ."""
    consts = _consts(model)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    for n in qdq:
        assert len(n.input) == 3, n.name
        scale, zp = consts[n.input[1]], consts[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), n.name
        assert (scale > 0).all()
        if n.input[0] in weights or (n.input[0] in consts and consts[n.input[0]].ndim == 4):
            axis = next(a.i for a in n.attribute if a.name == "axis")
            assert axis == 0 and scale.size == consts[n.input[0]].shape[0], n.name
        elif n.op_type == "QuantizeLinear":
            assert scale.size == 1, f"activation {n.input[0]} must be per-tensor"
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in consts:
            assert consts[n.input[0]].dtype == np.int8, "no INT32 (bias) or UINT8 through DequantizeLinear"
        if n.op_type == "Conv" and len(n.input) > 2:
            assert n.input[2] in consts and consts[n.input[2]].dtype == np.float32, "biases stay float"


def test_int8_qdq_follows_tensorrt_rules(fp32, calibration) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import quantize_qdq, resolve_keep, trt_qdq_violations

    for keep in ("auto", "none"):
        model = quantize_qdq(fp32, calibration, resolve_keep(fp32.model, keep))
        onnx.checker.check_model(model, full_check=True)
        assert_tensorrt_qdq_rules(model)
        assert trt_qdq_violations(model) == []
        assert {p.key: p.value for p in model.metadata_props}[ONNX_PRECISION_KEY] == "int8"


def test_int8_keep_auto_leaves_first_last_and_subpixel_convs_in_float(fp32, calibration) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import quantize_qdq, resolve_keep

    convs = [n for n in fp32.model.graph.node if n.op_type == "Conv"]
    d2s_inputs = {n.input[0] for n in fp32.model.graph.node if n.op_type == "DepthToSpace"}
    expected = {convs[0].name, convs[-1].name} | {c.name for c in convs if c.output[0] in d2s_inputs}
    assert set(resolve_keep(fp32.model, "auto")) == expected and len(expected) == 4

    def quantized_convs(model: onnx.ModelProto) -> set[str]:
        dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
        return {n.name for n in model.graph.node if n.op_type == "Conv" and n.input[1] in dq_out}

    auto = quantize_qdq(fp32, calibration, resolve_keep(fp32.model, "auto"))
    none = quantize_qdq(fp32, calibration, resolve_keep(fp32.model, "none"))
    assert quantized_convs(none) == {c.name for c in convs}
    assert quantized_convs(auto) == {c.name for c in convs} - expected
    named = quantize_qdq(fp32, calibration, resolve_keep(fp32.model, convs[1].name))
    assert quantized_convs(named) == {c.name for c in convs} - {convs[1].name}


def test_int8_runs_close_to_fp32_on_a_photo(fp32, calibration, photo_lr: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import quantize_qdq, resolve_keep

    model = quantize_qdq(fp32, calibration, resolve_keep(fp32.model, "auto"))
    a, b = run(fp32.path, photo_lr), run(model, photo_lr)
    assert 25 < psnr(np.clip(a, 0, 1), np.clip(b, 0, 1), 1.0) < 120  # quantised: close, not identical


def test_checker_catches_onnxruntime_default_quantisation(fp32, calibration, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ONNX Runtime's defaults (asymmetric activations, INT32 biases) are what TensorRT refuses."""
    from edgesr.export.int8 import trt_qdq_violations
    from onnxruntime.quantization import CalibrationMethod, QuantType, quantize_static

    out = tmp_path / "default.onnx"
    quantize_static(
        fp32.path,
        out,
        None,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        calibration_cache_path=calibration.ranges_path,
    )
    problems = " ".join(trt_qdq_violations(onnx.load(str(out))))
    assert "uint8" in problems and "non-zero zero point" in problems and "INT32" in problems


def test_calibration_cache_is_reused_and_keyed(  # type: ignore[no-untyped-def]
    fp32, calibration, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgesr.export.calibration import calibrate

    # a cache of its own: other tests calibrate the same tiny model into the session's cache
    monkeypatch.setenv("EDGESR_CACHE", str(tmp_path / "cache"))
    fresh = calibrate(fp32.path, calibration.config)
    assert not fresh.cached
    again = calibrate(fp32.path, calibration.config)
    assert again.cached and again.ranges_path == fresh.ranges_path
    other_count = calibrate(fp32.path, replace(calibration.config, images=2))
    assert not other_count.cached and other_count.ranges_path != fresh.ranges_path
    # same file names, different pixels -> a different key
    folder = tmp_path / "calib"
    folder.mkdir()
    for i, f in enumerate(calibration.images[:2]):
        img = load_image(f)
        from edgesr.imageops import save_image

        save_image(folder / f.name, img if i else 255 - img)
    cfg = replace(calibration.config, data=str(folder), images=2)
    first = calibrate(fp32.path, cfg)
    img = load_image(folder / calibration.images[0].name)
    from edgesr.imageops import save_image

    save_image(folder / calibration.images[0].name, 255 - img)
    assert calibrate(fp32.path, cfg).ranges_path != first.ranges_path


@pytest.mark.slow
def test_entropy_with_enough_bins_is_not_minmax(tmp_path: Path) -> None:
    """ONNX Runtime's Entropy default (128 bins) reproduces MinMax; with more bins than quantised bins
    the KL threshold search clips outliers, so at least one range shrinks."""
    from edgesr.export.calibration import CalibrationConfig, calibrate
    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.export.onnx_io import open_edgesr_onnx
    from onnxruntime.quantization import load_tensors_data

    ckpt = tiny_checkpoint(tmp_path / "x.pt", seed=1)
    src = open_edgesr_onnx(export_onnx(ckpt, tmp_path / "x.onnx", ExportConfig(parity_sizes=((24, 32),))).path)
    base = CalibrationConfig(images=2, shape=(24, 32))

    def ranges(cfg: CalibrationConfig) -> dict[str, float]:
        data = load_tensors_data(calibrate(src.path, cfg).ranges_path)
        return {k: float(np.max(np.abs(np.asarray(data[k].range_value, dtype=np.float64)))) for k in data.keys()}

    minmax = ranges(base)
    entropy = ranges(replace(base, method="entropy", bins=256))
    assert set(minmax) == set(entropy)
    assert all(entropy[k] <= minmax[k] * (1 + 1e-5) for k in minmax)
    assert any(entropy[k] < 0.9 * minmax[k] for k in minmax)

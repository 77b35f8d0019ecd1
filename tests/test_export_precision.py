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


@pytest.fixture(scope="module")
def ranges(calibration):  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import load_ranges

    return load_ranges(calibration.ranges_path)


def quantized_convs(model: onnx.ModelProto) -> set[str]:
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in model.graph.node if n.op_type == "Conv" and n.input[0] in dq_out and n.input[1] in dq_out}


def assert_conv_only_placement(model: onnx.ModelProto) -> None:
    """Every DequantizeLinear feeds exactly one Conv, at its data input or weight; nothing else reads Q/DQ."""
    dq = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    readers: dict[str, list[tuple[str, int]]] = {}
    for n in model.graph.node:
        for slot, i in enumerate(n.input):
            readers.setdefault(i, []).append((n.op_type, slot))
    for t in dq:
        assert len(readers[t]) == 1 and readers[t][0][0] == "Conv" and readers[t][0][1] in (0, 1), (t, readers[t])
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            assert [r for r in readers[n.output[0]] if r[0] != "DequantizeLinear"] == []


def test_int8_qdq_follows_tensorrt_rules_and_sits_on_conv_inputs_and_weights(fp32, ranges) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import conv_names, qdq_summary, quantize_qdq, trt_qdq_violations

    convs = conv_names(fp32.model)
    for keep in ([], convs[:1], convs[1:3]):
        model = quantize_qdq(fp32, ranges, keep)
        onnx.checker.check_model(model, full_check=True)
        assert_tensorrt_qdq_rules(model)
        assert trt_qdq_violations(model) == []
        assert_conv_only_placement(model)
        assert quantized_convs(model) == set(convs) - set(keep)
        n = len(convs) - len(keep)
        assert qdq_summary(model)["dequantize_feeds"] == {"Conv.input": n, "Conv.weight": n}
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta[ONNX_PRECISION_KEY] == "int8" and meta["edgesr.int8_keep"] == (",".join(keep) or "none")


def test_int8_keep_names_none_and_refusals(fp32) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import conv_names, resolve_names

    from edgesr.errors import UsageError

    convs = conv_names(fp32.model)
    assert resolve_names(fp32.model, "auto") is None  # measured later
    assert resolve_names(fp32.model, "none") == []
    assert resolve_names(fp32.model, f"{convs[0]}, {convs[-1]}") == [convs[0], convs[-1]]
    with pytest.raises(UsageError, match="'nope' is not a node or module of the model"):
        resolve_names(fp32.model, "nope")
    other = next(n for n in fp32.model.graph.node if n.op_type != "Conv")
    with pytest.raises(UsageError, match="Conv nodes only"):
        resolve_names(fp32.model, other.name)


def test_int8_keep_takes_the_module_paths_users_see(fp32) -> None:  # type: ignore[no-untyped-def]
    """The sweep's finding 19: --int8-keep wanted /head/head.0/Conv where the docs say head. Module paths select
    the convs under them (whole components only), full node names still work, and the short form the report
    shows selects exactly the same convs."""
    from edgesr.export.int8 import conv_names, resolve_names
    from edgesr.export.int8_names import short_form

    from edgesr.errors import UsageError

    convs = conv_names(fp32.model)
    assert convs[0] == "/head/head.0/Conv" and "/body_tail/body_tail.0/Conv" in convs  # the exporter's scopes
    body = [c for c in convs if c.startswith("/body/")]
    assert resolve_names(fp32.model, "head") == ["/head/head.0/Conv"] == resolve_names(fp32.model, "head.0")
    assert resolve_names(fp32.model, "body.0") == ["/body/body.0/conv1/Conv", "/body/body.0/conv2/Conv"]
    assert resolve_names(fp32.model, "body") == body  # not body_tail: prefixes match whole components
    assert resolve_names(fp32.model, "upsample.0") == ["/upsample/upsample.0/conv/Conv"]
    mixed = resolve_names(fp32.model, "tail, body.0.conv1, /head/head.0/Conv, head")  # graph order, once each
    assert mixed == ["/head/head.0/Conv", "/body/body.0/conv1/Conv", "/tail/Conv"]
    assert short_form(fp32.model, mixed) == ["head", "body.0.conv1", "tail"]
    short = short_form(fp32.model, convs)
    assert "upsample.0" in short and "body_tail" in short and len(short) == len(convs)
    assert resolve_names(fp32.model, ",".join(short)) == convs  # the short form round-trips
    refusals = {
        "conv1": "'conv1' is ambiguous: it ends body.0.conv1, body.1.conv1",
        "haed": "'haed' is not a node or module of the model (did you mean head",
        "body.0.act": "'body.0.act' has no Conv under it (PRelu: already float)",
        "bod": "'bod' is not a node or module of the model (did you mean body",
    }
    for name, message in refusals.items():
        with pytest.raises(UsageError) as caught:
            resolve_names(fp32.model, name)
        text = str(caught.value)
        assert message in text and "\n" not in text, text
        assert "each selects the convs under it: head, body, body_tail, upsample, tail" in text  # valid short names


def test_image_skip_resize_and_add_stay_float(tmp_path: Path) -> None:
    """A graph whose output adds a Resize of the input image (the image skip): the Resize reads the
    float image, the Add stays float, only the convs get Q/DQ; exact Q/DQ output is finite and close."""
    from edgesr.export.int8 import quantize_qdq, trt_qdq_violations
    from edgesr.export.onnx_io import open_edgesr_onnx
    from onnx import TensorProto, helper

    import tinymodel

    src = open_edgesr_onnx(tinymodel.tiny_onnx(tmp_path / "t.onnx"))
    m = src.model
    out_node = next(n for n in m.graph.node if n.output[0] == "sr")
    body = out_node.input[0]
    scales = helper.make_tensor("skip_scales", TensorProto.FLOAT, [4], [1.0, 1.0, 4.0, 4.0])
    m.graph.initializer.append(scales)
    skip = [
        helper.make_node("Resize", ["lr", "", "skip_scales"], ["skip_up"], "skip_resize", mode="nearest"),
        helper.make_node("Add", [body, "skip_up"], ["with_skip"], "skip_add"),
    ]
    out_node.input[0] = "with_skip"
    idx = list(m.graph.node).index(out_node)
    for k, node in enumerate(skip):
        m.graph.node.insert(idx + k, node)
    onnx.save(m, str(tmp_path / "skip.onnx"))
    src = open_edgesr_onnx(tmp_path / "skip.onnx")
    tensors = {i for n in src.model.graph.node for i in n.input} | {"lr"}
    ranges = {t: (-2.0, 2.0) for t in tensors}
    model = quantize_qdq(src, ranges, [])
    assert trt_qdq_violations(model) == []
    assert_conv_only_placement(model)
    node = {n.name: n for n in model.graph.node}
    assert node["skip_resize"].input[0] == "lr" and node["skip_add"].input[1] == "skip_up"
    assert quantized_convs(model) == {n.name for n in src.model.graph.node if n.op_type == "Conv"}
    from edgesr.export.int8_search import conv_macs

    macs = conv_macs(src.model, (8, 12))  # shape inference through the Resize/Add of the skip
    assert set(macs) == {n.name for n in src.model.graph.node if n.op_type == "Conv"} and min(macs.values()) > 0
    x = np.random.default_rng(0).random((1, 3, 8, 12), dtype=np.float32)
    from edgesr.export.gate import exact_qdq_session

    onnx.save(model, str(tmp_path / "skip.int8.onnx"))
    sess = exact_qdq_session(tmp_path / "skip.int8.onnx")
    y, ref = sess.run(None, {"lr": x})[0], run(src.path, x)
    assert y.shape == ref.shape == (1, 3, 32, 48) and 25 < psnr(np.clip(ref, 0, 1), np.clip(y, 0, 1), 1.0) < 200


def test_int8_runs_close_to_fp32_on_a_photo(fp32, ranges, photo_lr: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.int8 import quantize_qdq

    model = quantize_qdq(fp32, ranges, [])
    a, b = run(fp32.path, photo_lr), run(model, photo_lr)
    assert 25 < psnr(np.clip(a, 0, 1), np.clip(b, 0, 1), 1.0) < 120  # quantised: close, not identical


def test_conv_macs_match_the_shapes_onnxruntime_computes(fp32, photo_lr: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """MACs from shape inference == Cout*H*W*Cin*k*k from the real conv outputs of a run."""
    import onnxruntime as ort

    from edgesr.export.int8_search import conv_macs, int8_mac_share

    h, w = photo_lr.shape[2:]
    macs = conv_macs(fp32.model, (h, w))
    m = onnx.ModelProto()
    m.CopyFrom(fp32.model)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    for n in convs:
        m.graph.output.append(onnx.ValueInfoProto(name=n.output[0]))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"lr": photo_lr}), strict=True))
    weights = _consts(fp32.model)
    for n in convs:
        y, wt = outs[n.output[0]], weights[n.input[1]]
        assert macs[n.name] == y.shape[1] * y.shape[2] * y.shape[3] * wt.shape[1] * wt.shape[2] * wt.shape[3]
    total = sum(macs.values())
    assert int8_mac_share(macs, []) == 1.0 and int8_mac_share(macs, list(macs)) == 0.0
    assert int8_mac_share(macs, [convs[0].name]) == pytest.approx(1 - macs[convs[0].name] / total)


def test_search_keeps_the_conv_whose_range_is_broken_and_reports_the_table(fp32, ranges) -> None:  # type: ignore[no-untyped-def]
    """Give one conv's input a range 1000x too wide (its INT8 input becomes a few levels): the measured
    search must keep exactly that conv in float, reach the target, and table every conv."""
    from edgesr.export.calibration import calibration_files, crops
    from edgesr.export.int8_search import Evaluator, conv_macs, int8_mac_share, search_keep

    convs = [n for n in fp32.model.graph.node if n.op_type == "Conv"]
    victim = convs[1]
    lo, hi = ranges[victim.input[0]]
    bad = {**ranges, victim.input[0]: (lo * 1000, hi * 1000)}
    from edgesr.export.calibration import CalibrationConfig

    cfg = CalibrationConfig(images=3, shape=(24, 32))
    xs = list(crops(cfg, calibration_files(cfg)))
    macs = conv_macs(fp32.model, (24, 32))
    ev = Evaluator(fp32.model, bad, xs)
    broken, fixed = ev(frozenset())[0], ev(frozenset({victim.name}))[0]
    assert broken < fixed - 3  # the premise: that conv alone ruins INT8
    target = fixed - 1.0
    result = search_keep(fp32.model, bad, xs, macs, target)
    assert result.keep == [victim.name] and result.reached and result.worst_db >= target
    assert result.int8_mac_share == pytest.approx(int8_mac_share(macs, [victim.name]))
    table = {row["conv"]: row for row in result.table}
    assert set(table) == set(macs) and table[victim.name]["kept_float"]
    assert table[victim.name]["psnr_only_this_int8_db"] == min(r["psnr_only_this_int8_db"] for r in table.values())
    assert result.curve[0]["int8_mac_share"] == 1.0 and result.curve[-1]["worst_psnr_db"] >= target


def test_mse_threshold_beats_minmax_on_heavy_tails() -> None:
    """On data with rare large outliers the threshold picked from the histogram is (within 5%) the one
    that minimises the real INT8 squared error on the samples (numpy, brute force), below the max."""
    from edgesr.export.calibration import mse_threshold

    rng = np.random.default_rng(0)
    x = np.abs(np.concatenate([rng.normal(0, 1, 200_000), rng.normal(0, 40, 20)])).astype(np.float32)
    hist, edges = np.histogram(x, bins=2048)
    t = mse_threshold(hist, edges)

    def err(amax: float) -> float:
        step = amax / 127
        return float(np.mean((np.clip(np.round(x / step), -127, 127) * step - x) ** 2))

    grid = np.linspace(x.max() / 64, x.max(), 400)
    best = min(err(float(c)) for c in grid)
    assert t < 0.9 * x.max() and err(t) <= 1.05 * best and err(t) < 0.7 * err(float(x.max()))


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
        calibrate_method=CalibrationMethod.Percentile,  # the method the cached ranges were made with
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
    base = CalibrationConfig(images=2, shape=(24, 32), method="minmax")

    def ranges(cfg: CalibrationConfig) -> dict[str, float]:
        data = load_tensors_data(calibrate(src.path, cfg).ranges_path)
        return {k: float(np.max(np.abs(np.asarray(data[k].range_value, dtype=np.float64)))) for k in data.keys()}

    minmax = ranges(base)
    entropy = ranges(replace(base, method="entropy", bins=256))
    assert set(minmax) == set(entropy)
    assert all(entropy[k] <= minmax[k] * (1 + 1e-5) for k in minmax)
    assert any(entropy[k] < 0.9 * minmax[k] for k in minmax)

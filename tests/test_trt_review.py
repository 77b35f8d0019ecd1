"""The TensorRT review's defects (issue 18, item 6), each driven through edgesr's real code with the fake
``tensorrt``/``pycuda`` modules (``fake_trt.FakeGPU``) where a GPU would be needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import SMALL_PROFILE, cli, one_line_error
from fake_trt import FakeGPU

from edgesr import machine
from edgesr.artifact import read_sidecar
from edgesr.errors import IncompatibleArtifactError
from edgesr.runtime import open_runner, trt_common

STATIC = ["--min-shape", "32x48", "--opt-shape", "32x48", "--max-shape", "32x48"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def make(version: str = "10.3.0.30", **kw: object) -> FakeGPU:
        monkeypatch.setattr(trt_common, "_LOGGER", None)
        monkeypatch.setattr(trt_common, "_CHECKED", set())
        monkeypatch.setattr(trt_common, "_PRIMARY", {})
        return FakeGPU(version, **kw).install(monkeypatch)  # type: ignore[arg-type]

    return make


@pytest.fixture
def onnx_fp32(tmp_path: Path) -> Path:
    return tinymodel.tiny_onnx(tmp_path / "m.onnx")


def build(capsys: pytest.CaptureFixture[str], onnx: Path, out: Path, *extra: object) -> tuple[int, str, str]:
    return cli(capsys, "build-engine", onnx, "-o", out, "--backend", "tensorrt", *extra)


def fake_jetson(monkeypatch: pytest.MonkeyPatch, root: Path, release: str, module: str = "p3767-0005") -> None:
    """A Jetson's device tree and L4T release file, where ``edgesr.machine`` reads them."""
    tree = root / "device-tree"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "model").write_text("NVIDIA Jetson Orin Nano Developer Kit\x00")
    (tree / "compatible").write_bytes(f"nvidia,p3768-0000+{module}\x00nvidia,{module}\x00nvidia,tegra234\x00".encode())
    (root / "nv_tegra_release").write_text(f"# {release} (release), REVISION: 4.3, GCID: 1, BOARD: generic\n")
    monkeypatch.setattr(machine, "DEVICE_TREE", tree)
    monkeypatch.setattr(machine, "TEGRA_RELEASE", root / "nv_tegra_release")
    import edgesr.runtime.trt_support as support

    monkeypatch.setattr(support, "TEGRA_RELEASE", root / "nv_tegra_release")


# -- trt_runner ~151: TensorRT 8.5's nptype raises AttributeError on numpy >= 1.24 ------------------------------
def test_tensorrt_8_5_engines_run_although_its_nptype_is_broken_on_this_numpy(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake("8.5.2.2")
    with pytest.raises(AttributeError, match="np|numpy"):
        gpu.tensorrt.nptype(0)  # what TensorRT 8.5 does with numpy 1.24-1.26
    engine = tmp_path / "m.engine"
    code, _, err = build(capsys, onnx_fp32, engine, *SMALL_PROFILE, "--fp16")
    assert code == 0, err  # the gate ran the engine through the runner
    x = tinymodel.test_frames(1, 24, 32)[0].transpose(2, 0, 1)[None].astype(np.float32) / 255
    with open_runner(engine) as r:
        assert r.infer(x).shape == (1, 3, 96, 128)


def test_an_io_type_numpy_lacks_is_one_line(fake) -> None:  # type: ignore[no-untyped-def]
    gpu = fake("10.3.0.30")
    trt = gpu.tensorrt
    assert trt_common.numpy_dtype(trt, trt.DataType.HALF) == np.float16
    assert trt_common.numpy_dtype(trt, 7) is None  # e.g. BF16: no numpy type -> IncompatibleArtifactError


# -- engine_trt ~143: TensorRT 11 INT8 runs the float layers in FP32 unless the ONNX says FP16 -------------------
@pytest.mark.parametrize(("version", "float_layers"), [("10.3.0.30", "fp16 where"), ("11.1.0.5", "fp16 (the ONNX")])
def test_int8_float_layers_run_in_fp16_on_every_tensorrt_and_the_sidecar_says_so(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
    version: str, float_layers: str,
) -> None:
    fake(version)
    engine = tmp_path / "m.int8.engine"
    code, out, err = build(capsys, onnx_fp32, engine, *SMALL_PROFILE, "--int8", "--calib-images", "4",
                           "--int8-keep", "none")
    assert code == 0, err
    facts = read_sidecar(engine).engine_facts
    assert facts["float_layers"].startswith(float_layers)
    layers = facts["layers"]  # from the engine inspector of the plan just built
    assert layers["precisions"].get("int8", 0) >= 1 and layers["precisions"].get("fp16", 0) >= 1
    assert "fp32" not in layers["precisions"]  # without the rewrite, TensorRT 11 would show fp32 layers here
    assert "layers (engine inspector)" in out


def test_the_fp16_rewrite_keeps_int8_placement_and_accuracy(tmp_path: Path) -> None:
    """What TensorRT 11 gets for INT8: the same Q/DQ, FP16 scales and float layers (opset 19), FP32 I/O."""
    import onnx
    import onnxruntime as ort

    from edgesr.export.int8 import conv_names, quantize_qdq
    from edgesr.export.int8_fp16 import float_layers_fp16
    from edgesr.export.onnx_io import open_edgesr_onnx, save_model
    from edgesr.spec import edge_xs

    src = open_edgesr_onnx(tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4)))
    convs = conv_names(src.model)
    ranges = {n.input[0]: (-1.0, 1.0) for n in src.model.graph.node if n.op_type == "Conv"}
    ranges.update(_conv_input_ranges(src.path, set(ranges)))
    qdq = save_model(quantize_qdq(src, ranges, [convs[0], convs[-1]]), tmp_path / "xs.int8.onnx")
    out = float_layers_fp16(qdq, tmp_path / "xs.int8.fp16.onnx")
    m32, m16 = onnx.load(str(qdq)), onnx.load(str(out))
    count = lambda m, op: sum(n.op_type == op for n in m.graph.node)  # noqa: E731
    assert count(m16, "QuantizeLinear") == count(m32, "QuantizeLinear") > 0
    assert max(o.version for o in m16.opset_import if o.domain in ("", "ai.onnx")) == 19
    scales = {i.name: i.data_type for i in m16.graph.initializer}
    dq_scales = [scales[n.input[1]] for n in m16.graph.node if n.op_type == "DequantizeLinear" and n.input[1] in scales]
    assert dq_scales and set(dq_scales) == {onnx.TensorProto.FLOAT16}
    assert {p.key: p.value for p in m16.metadata_props}["edgesr.precision"] == "int8"
    x = tinymodel.test_frames(1, 48, 64)[0].transpose(2, 0, 1)[None].astype(np.float32) / 255
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"lr": x})[0]  # noqa: E731
    y32, y16 = run(qdq), run(out)
    assert y16.dtype == np.float32
    mse = float(np.mean((np.clip(y16, 0, 1) - np.clip(y32, 0, 1)) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-12)) > 50  # the same quantised model, FP16 rounding apart


def _conv_input_ranges(path: Path, names: set[str]) -> dict[str, tuple[float, float]]:
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(path))
    for n in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = tinymodel.test_frames(1, 48, 64)[0].transpose(2, 0, 1)[None].astype(np.float32) / 255
    return {o.name: (float(v.min()), float(v.max())) for o, v in zip(s.get_outputs(), s.run(None, {"lr": x}),
                                                                     strict=True) if o.name in names}


# -- DLA: GPU fallback is silent in TensorRT -----------------------------------------------------------------------
def test_dla_build_records_which_layers_run_where_and_warns_about_gpu_fallback(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    fake(dla_cores=2)
    engine = tmp_path / "m.dla.engine"
    code, out, err = build(capsys, onnx_fp32, engine, *STATIC, "--fp16", "--dla-core", "1")
    assert code == 0, err
    sc = read_sidecar(engine)
    layers = sc.engine_facts["layers"]
    assert sc.device["dla_core"] == 1 and layers["on_gpu"] == 1 and layers["on_dla"] == layers["count"] - 1
    text = " ".join(out.split())
    assert "warning: 1 of" in text and "run on the GPU, not DLA core 1" in text
    assert any("GPU fallback" in w for w in sc.engine_facts["warnings"])


def test_dla_warning_when_the_layers_cannot_be_listed() -> None:
    from edgesr.export.trt_layers import dla_warning

    assert dla_warning(None, None) is None
    assert "cannot list" in (dla_warning(0, None) or "")
    assert dla_warning(0, {"count": 3, "on_dla": 3, "on_gpu": 0, "precisions": {"fp16": 3}}) is None


# -- trt_common ~73: TensorRT's warnings are shown at build time, deduplicated --------------------------------------
def test_tensorrt_warnings_are_shown_once_each_with_a_count(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake()
    subnormal = "Weights [name=conv_1.weight] had the following issues when converted to FP16: - Subnormal FP16 values"
    gpu.build_warnings = [subnormal] * 3 + ["Missing scale and zero-point for tensor x"]
    code, out, err = build(capsys, onnx_fp32, tmp_path / "m.engine", *SMALL_PROFILE, "--fp16")
    assert code == 0, err
    text = " ".join(out.split())
    assert text.count("tensorrt said: Weights [name=conv_1.weight]") == 1 and "Subnormal FP16 values (3 times)" in text
    assert "tensorrt said: Missing scale and zero-point for tensor x" in text
    gpu.build_warnings = []
    code, out, _ = build(capsys, onnx_fp32, tmp_path / "n.engine", *SMALL_PROFILE, "--fp16")
    assert code == 0 and "tensorrt said" not in out  # the next build starts clean


# -- supported versions, and `info` says it on the device ----------------------------------------------------------
@pytest.mark.parametrize(("release", "needle"), [("R35", "JetPack 5 (L4T R35): not supported"),
                                                 ("R36", "JetPack 6: supported")])
def test_info_says_whether_this_jetpack_is_supported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, release: str, needle: str
) -> None:
    fake_jetson(monkeypatch, tmp_path, release)
    code, out, err = cli(capsys, "info")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("jetpack"))
    assert needle in " ".join(line.split())
    if release == "R35":
        assert "Python >= 3.10" in line
    assert "JetPack 5 (L4T R35) is not supported" in " ".join(out.split())  # the tensorrt backend's statement


def test_default_backend_needs_a_supported_tensorrt_and_a_gpu(fake, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from edgesr.backends import backend, default_backend

    fake("10.3.0.30")
    assert default_backend() == "tensorrt" and backend("tensorrt").probe() is None
    fake("12.0.0.1")
    assert default_backend() == "onnxruntime" and "newer than edgesr supports" in (backend("tensorrt").probe() or "")
    gpu = fake("10.3.0.30")
    monkeypatch.setattr(gpu.driver.Device, "count", staticmethod(lambda: 0))
    assert default_backend() == "onnxruntime" and "no CUDA GPU" in (backend("tensorrt").probe() or "")


# -- trt_compat ~87: Orin modules are told apart --------------------------------------------------------------------
def test_an_agx_orin_engine_is_refused_on_an_orin_nano(
    fake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, onnx_fp32: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    fake_jetson(monkeypatch, tmp_path / "agx", "R36", module="p3701-0005")
    fake(sm_count=16)
    engine = tmp_path / "m.engine"
    code, _, err = build(capsys, onnx_fp32, engine, *SMALL_PROFILE, "--fp16")
    assert code == 0, err
    assert {"sm_count": 16, "module": "p3701-0005"}.items() <= read_sidecar(engine).device.items()
    fake_jetson(monkeypatch, tmp_path / "nano", "R36", module="p3767-0005")
    fake(sm_count=8)  # the same GPU name ("Fake Orin") and compute capability
    with pytest.raises(IncompatibleArtifactError, match="16 SMs .*p3701-0005.*8 SMs"):
        open_runner(engine)


# -- finding 15 (issue 24): a TensorRT engine's precision label is checked against the engine's own layers ------------
def _relabel(engine: Path, precision: str) -> None:
    side = engine.with_name(engine.name + ".json")
    data = json.loads(side.read_text())
    data["precision"] = precision
    side.write_text(json.dumps(data))


def test_an_edited_precision_label_is_refused_against_the_engines_layers(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """The sweep relabelled an INT8 engine fp32 and it was accepted and reported; the runner now reads the plan's
    layers (engine inspector) and refuses every label the layers contradict, in one line."""
    fake("10.3.0.30")
    flags = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8", "--calib-images", "4", "--int8-keep", "none"]}
    engines = {}
    for precision, extra in flags.items():
        engines[precision] = tmp_path / f"m.{precision}.engine"
        code, _, err = build(capsys, onnx_fp32, engines[precision], *SMALL_PROFILE, *extra)
        assert code == 0, err
        with open_runner(engines[precision]) as r:  # as built: its label holds
            assert r.precision == precision
    why = {("int8", "fp32"): "INT8 layers", ("int8", "fp16"): "INT8 layers", ("fp16", "fp32"): "FP16 layers",
           ("fp16", "int8"): "no INT8 layer", ("fp32", "fp16"): "no FP16 layer", ("fp32", "int8"): "no INT8 layer"}
    for (built, label), reason in why.items():
        _relabel(engines[built], label)
        with pytest.raises(IncompatibleArtifactError, match=f"sidecar says {label} but the engine itself has "
                                                             f"(\\d+ )?{reason}") as caught:
            open_runner(engines[built])
        assert "\n" not in str(caught.value) and "engine inspector" in str(caught.value)
        _relabel(engines[built], built)
    _relabel(engines["int8"], "fp32")  # the sweep's case, through the CLI: one line, nothing written
    img = tmp_path / "in.png"
    from edgesr.imageops import save_image

    save_image(img, tinymodel.test_frames(1, 24, 32)[0])
    code, _, err = cli(capsys, "upscale", img, "-o", tmp_path / "out.png", "--model", engines["int8"])
    assert code != 0 and "sidecar says fp32 but the engine itself has" in one_line_error(err)
    assert not (tmp_path / "out.png").exists()


def test_an_engine_whose_layers_cannot_be_listed_warns_that_its_label_is_unverified(
    fake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, onnx_fp32: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """A plan built without detailed profiling verbosity holds no per-layer types: the label cannot be checked,
    and the runner says so instead of pretending."""
    from edgesr.errors import EdgeSRWarning

    gpu = fake("10.3.0.30")
    monkeypatch.delattr(gpu.tensorrt.ProfilingVerbosity, "DETAILED")  # the plan records layer names only
    engine = tmp_path / "m.engine"
    code, _, err = build(capsys, onnx_fp32, engine, *SMALL_PROFILE, "--fp16")
    assert code == 0, err
    assert read_sidecar(engine).engine_facts.get("layers") is None
    with pytest.warns(EdgeSRWarning, match="precision label fp16 is not verified"), open_runner(engine) as r:
        assert r.precision == "fp16"


# -- engine inspector JSON: parsed, not searched as text --------------------------------------------------------------
def test_layer_summary_reads_each_layers_types_not_the_whole_json() -> None:
    from edgesr.runtime.trt_inspect import summarise

    layer = lambda name, i, o: {"Name": name, "LayerType": "CaskConvolution",  # noqa: E731
                                "Inputs": [{"Format/Datatype": i}], "Outputs": [{"Format/Datatype": o}]}
    info = {"Layers": [layer("conv_fp16_named", "Row major linear FP32", "Row major linear FP32"),
                       layer("q", "Row major Int8 format", "Channel major FP16 format where channel % 8 == 0")]}
    assert summarise(json.dumps(info)) == {"count": 2, "precisions": {"fp32": 1, "int8": 1}, "on_dla": 0,
                                           "on_gpu": 2}  # "fp16" in a layer's name is not a precision
    renamed = {"Layers": [{"Name": "x", "Inputs": [{"Type": "FP16"}], "Outputs": [{"Type": "FP16"}]}]}
    assert summarise(json.dumps(renamed)) is None  # renamed keys: "cannot say", never "no FP16 layers"
    assert summarise(json.dumps({"Layers": ["conv1", "conv2"]})) is None  # names only (no detailed verbosity)


# -- pyproject: [trt] is bounded --------------------------------------------------------------------------------------
def test_trt_extra_is_bounded_to_the_cuda_12_tensorrt_10_wheels() -> None:
    from packaging.requirements import Requirement

    try:
        import tomllib  # novermin (3.11+; tomli below on 3.10)
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    reqs = {Requirement(r).name: Requirement(r).specifier for r in meta["project"]["optional-dependencies"]["trt"]}
    trt = reqs["tensorrt-cu12"]
    assert "10.3.0" in trt and "10.16.1.11" in trt and "11.0.0.114" not in trt and "8.6.1" not in trt
    assert "tensorrt" not in reqs  # the meta package's newest release pulls CUDA 13 (TensorRT 11)


def test_fakes_follow_the_real_apis_shape() -> None:
    """The fakes are only as good as their shapes: I/O types by DataType member, inspector JSON, SM count."""
    gpu = FakeGPU()
    dev = gpu.driver.Device(0)
    assert dev.get_attribute(gpu.driver.device_attribute.MULTIPROCESSOR_COUNT) == 16
    facts = machine.gpu_facts(gpu.driver, 0)
    assert facts is not None and facts.sidecar()["sm_count"] == 16 and facts.compute_capability == (8, 7)

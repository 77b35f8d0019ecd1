"""TensorRT runner. The compatibility rules (sidecar vs this machine) are pure and run everywhere; the
runner itself needs TensorRT + pycuda + an NVIDIA GPU: those tests are marked ``gpu`` and skip here with
the reason (run them on a Jetson / GPU box with ``pytest -m gpu``; README "Running the GPU tests on a
Jetson").

The GPU tests need no torch (a base + TensorRT Jetson install): the engines are built ONCE per module by
the production builder ``edgesr.export.engine_trt.build`` (its FP16/INT8 flags, timing cache,
logger and DLA path) from ``tinymodel``'s SRResNet graph and its FP16 / Q-DQ variants, made by the
torch-free ``export.fp16`` / ``export.int8`` with calibration crops written here."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tinymodel
from export_helpers import session_cache

from edgesr.artifact import ShapeProfile, Sidecar, sha256_file, write_sidecar
from edgesr.errors import BadInputError, IncompatibleArtifactError, MissingDependencyError
from edgesr.imageops import from_nchw, to_nchw
from edgesr.machine import GpuFacts
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner
from edgesr.runtime.trt_compat import check_engine_compatible, same_release, sidecar_gpu
from edgesr.spec import edge_xs

PROFILE = ShapeProfile((16, 16), (48, 64), (96, 128), max_batch=2)


def gpu(name: str, cc: tuple[int, int], sms: int | None = None, module: str | None = None) -> GpuFacts:
    return GpuFacts(name, cc, sms, None, module)


def _sidecar(version: str = "10.3.0", device: dict | None = None, build: dict | None = None) -> Sidecar:
    return Sidecar(
        backend="tensorrt", precision="fp16", spec=edge_xs(4), profile=PROFILE, source_onnx_sha256="0" * 64,
        engine_sha256="0" * 64, backend_version=version,
        device=device if device is not None else {"gpu_name": "Orin", "compute_capability": "8.7"},
        build=build or {},
    )


# -- compatibility rules (no GPU needed) ---------------------------------------------------------------------
def test_same_build_is_accepted() -> None:
    check_engine_compatible(_sidecar("10.3.0"), "m.engine", "10.3.0.30", gpu("Orin", (8, 7)))
    assert same_release("8.6.2", "8.6.2.3") and not same_release("8.6.2", "8.6.1")


@pytest.mark.parametrize(
    "sidecar,trt,gpu_name,cc,needle",
    [
        (_sidecar("8.6.2"), "10.3.0", "Orin", (8, 7), "built with TensorRT 8.6.2, this machine has TensorRT 10.3.0"),
        (_sidecar(), "10.3.0", "NVIDIA GeForce RTX 3060", (8, 6), "compute 8.7"),
        (_sidecar(device={"gpu_name": "NVIDIA A10", "compute_capability": [8, 6]}), "10.3.0",
         "NVIDIA GeForce RTX 3060", (8, 6), "tied to the GPU model"),
        (_sidecar("10.3.0", build={"engine": {"version_compatible": True}}), "10.1.0", "Orin", (8, 7), "cannot run"),
        (_sidecar("8.6.1", build={"engine": {"version_compatible": True}}), "11.1.0", "Orin", (8, 7), "cannot run"),
        (_sidecar(build={"engine": {"hardware_compatibility": "ampere_plus"}}), "10.3.0", "Xavier", (7, 2), "Ampere"),
        (_sidecar(device={"gpu_name": "Orin", "compute_capability": "8.7", "dla_core": 1}), "10.3.0", "Orin",
         (8, 7), "DLA core 1"),
    ],
)
def test_incompatible_engines_are_refused_with_the_fix(
    sidecar: Sidecar, trt: str, gpu_name: str, cc: tuple[int, int], needle: str
) -> None:
    with pytest.raises(IncompatibleArtifactError) as err:
        check_engine_compatible(sidecar, "m.engine", trt, gpu(gpu_name, cc), dla_cores=1)
    msg = str(err.value)
    assert needle in msg and "edgesr build-engine" in msg and "\n" not in msg


def test_compatible_exceptions() -> None:
    orin = gpu("Orin", (8, 7))
    check_engine_compatible(_sidecar("8.6.1", build={"engine": {"version_compatible": True}}), "m", "10.3.0", orin)
    check_engine_compatible(_sidecar("10.0.1", build={"engine": {"version_compatible": True}}), "m", "10.3.0", orin)
    ampere_plus = _sidecar(device={"gpu_name": "A100", "compute_capability": "8.0"},
                           build={"engine": {"hardware_compatibility": "AMPERE_PLUS"}})
    check_engine_compatible(ampere_plus, "m", "10.3.0", gpu("NVIDIA GeForce RTX 4090", (8, 9)))
    check_engine_compatible(_sidecar(device={}), "m", "10.3.0", gpu("anything", (7, 5)))  # nothing recorded to compare


def test_build_facts_are_read_where_build_engine_stores_them() -> None:
    """[issue 18] ``edgesr build-engine`` stores its build facts under ``build["engine"]``; the compatibility check
    reads them there (``Sidecar.engine_facts``). A stray top-level key is not a build fact."""
    stored = _sidecar("8.6.1", build={"engine": {"version_compatible": True}})
    assert stored.engine_facts["version_compatible"] is True
    check_engine_compatible(stored, "m", "10.3.0", gpu("Orin", (8, 7)))  # 8.6 version-compatible -> 10.x runs it
    top_level = _sidecar("8.6.1", build={"version_compatible": True})
    with pytest.raises(IncompatibleArtifactError, match="built with TensorRT 8.6.1"):
        check_engine_compatible(top_level, "m", "10.3.0", gpu("Orin", (8, 7)))


@pytest.mark.parametrize(
    ("built", "here", "needle"),
    [
        ({"sm_count": 16, "module": "p3701-0005"}, gpu("Orin", (8, 7), 8, "p3767-0005"), "with 16 SMs (p3701-0005)"),
        ({"sm_count": 8, "module": "p3767-0000"}, gpu("Orin", (8, 7), 8, "p3767-0005"), "module p3767-0000"),
        ({"sm_count": 16}, gpu("Orin", (8, 7), 14), "with 16 SMs"),
    ],
)
def test_orin_modules_are_told_apart(built: dict, here: GpuFacts, needle: str) -> None:
    """[issue 18] Every Orin module's GPU is "Orin" 8.7: an AGX Orin engine (16 SMs) on an Orin Nano (8 SMs),
    or an Orin NX (p3767-0000) engine on an Orin Nano (p3767-0005), is refused by SM count / module."""
    sc = _sidecar(device={"gpu_name": "Orin", "compute_capability": "8.7", **built})
    with pytest.raises(IncompatibleArtifactError) as err:
        check_engine_compatible(sc, "m.engine", "10.3.0", here)
    assert needle in str(err.value) and "edgesr build-engine" in str(err.value)
    same = {"gpu_name": "Orin", "compute_capability": "8.7", "sm_count": here.sm_count, "module": here.module}
    check_engine_compatible(_sidecar(device=same), "m.engine", "10.3.0", here)  # the same module: fine
    check_engine_compatible(_sidecar(), "m.engine", "10.3.0", here)  # an older sidecar without SMs/module: fine


def test_sidecar_gpu_spellings() -> None:
    assert sidecar_gpu({"gpu": "Orin", "cc": [8, 7]}) == ("Orin", (8, 7))
    assert sidecar_gpu({"name": "T4", "compute_capability": "sm_75"}) == ("T4", (7, 5))
    assert sidecar_gpu({"gpu_name": "X", "sm": 87}) == ("X", (8, 7))
    assert sidecar_gpu({}) == (None, None)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_engine_without_tensorrt_says_how_to_get_it(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    write_sidecar(engine, _sidecar())
    with pytest.raises(MissingDependencyError, match=r"tensorrt is not installed .*JetPack.*edgesr\[trt\]"):
        open_runner(engine)


# -- the runner on a GPU ----------------------------------------------------------------------------------------
def _gpu_or_skip() -> tuple[Any, Any]:
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (JetPack, or pip install 'edgesr[trt]')")
    cuda = pytest.importorskip("pycuda.driver", reason="pycuda is not installed (pip install 'edgesr[trt]')")
    try:
        cuda.init()
        if cuda.Device.count() < 1:
            pytest.skip("no CUDA GPU")
    except cuda.Error as exc:
        pytest.skip(f"no usable CUDA driver: {exc}")
    return trt, cuda


def build(onnx_path: Path, engine: Path, precision: str, profile: ShapeProfile = PROFILE, **kw: Any) -> Path:
    """The production build (``engine_trt.build``) + the sidecar ``edgesr build-engine`` would write."""
    from edgesr.backends import EngineRequest
    from edgesr.export.engine_trt import build as build_trt

    built = build_trt(onnx_path, engine, EngineRequest(precision, profile, workspace_mib=256, **kw))
    write_sidecar(engine, Sidecar(
        backend="tensorrt", precision=precision, spec=edge_xs(4), profile=profile,
        source_onnx_sha256=sha256_file(onnx_path), engine_sha256=sha256_file(engine),
        backend_version=built.backend_version, device=built.device, build={"engine": built.facts},
        reference_onnx=None,
    ))
    return engine


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """FP32, FP16 and INT8 (Q/DQ) engines of one SRResNet graph, built once for the module."""
    _gpu_or_skip()
    from edgesr.export.calibration import CalibrationConfig, calibrate
    from edgesr.export.fp16 import to_fp16
    from edgesr.export.int8 import conv_names, load_ranges, quantize_qdq
    from edgesr.export.onnx_io import open_edgesr_onnx, save_model
    from edgesr.imageops import save_image

    root = tmp_path_factory.mktemp("trt")
    fp32 = tinymodel.srresnet_onnx(root / "xs.onnx", edge_xs(4))
    src = open_edgesr_onnx(fp32)
    crops = root / "calibration"
    crops.mkdir()
    for i, frame in enumerate(tinymodel.test_frames(4, 96, 128, seed=1)):
        save_image(crops / f"c{i}.png", frame)
    convs = conv_names(src.model)  # first and last conv stay float (what the INT8 search keeps most often)
    with session_cache(tmp_path_factory):
        cal = calibrate(fp32, CalibrationConfig(data=str(crops), images=4, shape=PROFILE.opt))
        onnx = {
            "fp32": fp32,
            "fp16": save_model(to_fp16(src), root / "xs.fp16.onnx"),
            "int8": save_model(
                quantize_qdq(src, load_ranges(cal.ranges_path), [convs[0], convs[-1]]), root / "xs.int8.onnx"
            ),
        }
        cache = root / "timing.cache"
        out = {p: build(path, root / f"xs.{p}.engine", p, timing_cache=cache) for p, path in onnx.items()}
    return {**out, "onnx": fp32, "onnx_fp16": onnx["fp16"]}


def layer_precisions(engine: Path) -> dict[str, int] | None:
    """Layers per precision, as the builder recorded them from the engine inspector (``runtime.trt_inspect``, the
    parsed ``Format/Datatype`` of each layer), or None where this TensorRT has no inspector. Where it has one,
    a summary without types (renamed keys) fails here instead of skipping."""
    trt, _ = _gpu_or_skip()
    from edgesr.artifact import read_sidecar

    layers = read_sidecar(engine).engine_facts.get("layers")
    if layers is None:
        assert not hasattr(trt, "LayerInformationFormat"), "the engine inspector exists but gave no layer types"
        return None
    return dict(layers["precisions"])


# What TensorRT guarantees between runs of one engine is not bit-exactness (tactics may use atomics or split
# reductions differently): outputs agree to within the precision's rounding. Bounds per precision, max abs diff.
RUN_TO_RUN = {"fp32": 1e-4}


def assert_same_run(a: np.ndarray, b: np.ndarray, precision: str) -> None:
    assert a.shape == b.shape and np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    assert float(np.max(np.abs(a - b))) <= RUN_TO_RUN[precision]


def read_facts(engine: Path) -> dict[str, Any]:
    from edgesr.artifact import read_sidecar

    return read_sidecar(engine).engine_facts


def _out(engine: Path, x: np.ndarray) -> np.ndarray:
    with open_runner(engine) as r:
        return r.infer(x)


@pytest.mark.gpu
def test_trt_matches_onnxruntime(engines: dict[str, Path]) -> None:
    lr = tinymodel.test_frames(1, 48, 64)[0]
    with open_runner(engines["fp32"]) as trt_r, open_runner(engines["onnx"]) as ort_r:
        assert trt_r.backend == "tensorrt" and trt_r.profile is not None and trt_r.profile.max == (96, 128)
        a = from_nchw(trt_r.infer(to_nchw(lr)))[0]
        b = from_nchw(ort_r.infer(to_nchw(lr)))[0]
    assert a.shape == (192, 256, 3) and rgb_psnr(a, b) > 60


@pytest.mark.gpu
def test_fp16_engine_is_really_fp16(engines: dict[str, Path]) -> None:
    """40 dB alone would also pass an FP32 engine: the outputs must differ, and the inspector (where this
    TensorRT has one) must show FP16 layers, none in the FP32 engine."""
    x = to_nchw(tinymodel.test_frames(1, 48, 64)[0])
    fp32, fp16 = _out(engines["fp32"], x), _out(engines["fp16"], x)
    assert not np.array_equal(fp16, fp32)
    assert rgb_psnr(from_nchw(fp16)[0], from_nchw(fp32)[0]) > 40
    layers16, layers32 = layer_precisions(engines["fp16"]), layer_precisions(engines["fp32"])
    if layers16 is None or layers32 is None:
        pytest.skip("this TensorRT has no engine inspector with per-layer formats (outputs compared above)")
    assert layers16.get("fp16", 0) > 0  # some layers run in FP16 (TensorRT may keep a few in FP32)
    assert set(layers32) == {"fp32"}  # TF32 is cleared: every layer of the FP32 engine is FP32


@pytest.mark.gpu
def test_int8_engine_is_really_quantised(engines: dict[str, Path]) -> None:
    x = to_nchw(tinymodel.test_frames(1, 48, 64)[0])
    fp32, int8 = _out(engines["fp32"], x), _out(engines["int8"], x)
    assert not np.array_equal(int8, fp32)
    assert rgb_psnr(from_nchw(int8)[0], from_nchw(fp32)[0]) > 30
    layers = layer_precisions(engines["int8"])
    if layers is None:
        pytest.skip("this TensorRT has no engine inspector with per-layer formats (outputs compared above)")
    facts = read_facts(engines["int8"])
    assert layers.get("int8", 0) > 0 and sum(layers.values()) == facts["layers"]["count"]
    assert facts["float_layers"].startswith("fp16")
    if facts["strongly_typed"]:  # TensorRT 11: the float layers are FP16 because the ONNX says so
        assert layers.get("fp16", 0) > 0 and "fp32" not in layers


@pytest.mark.gpu
def test_two_frames_in_flight_keep_order_and_values(engines: dict[str, Path]) -> None:
    frames = [to_nchw(f) for f in tinymodel.test_frames(5, 48, 64)]
    with open_runner(engines["fp32"]) as r:
        assert r.max_in_flight == 2
        sequential = [r.infer(x) for x in frames]
        tickets = [r.submit(frames[0]), r.submit(frames[1])]
        pipelined = []
        for x in frames[2:]:
            pipelined.append(r.result(tickets.pop(0)))
            tickets.append(r.submit(x))
        pipelined += [r.result(t) for t in tickets]
    for a, b in zip(sequential, pipelined, strict=True):
        assert_same_run(a, b, "fp32")


@pytest.mark.gpu
def test_shapes_within_the_profile_and_refusal_outside(engines: dict[str, Path]) -> None:
    with open_runner(engines["fp32"]) as r:
        for h, w in ((16, 16), (96, 128), (33, 47)):
            assert r.infer(np.zeros((1, 3, h, w), np.float32)).shape == (1, 3, 4 * h, 4 * w)
        assert r.infer(np.zeros((2, 3, 20, 20), np.float32)).shape == (2, 3, 80, 80)
        with pytest.raises(BadInputError, match="16x16 to 96x128"):
            r.infer(np.zeros((1, 3, 100, 100), np.float32))


@pytest.mark.gpu
def test_runner_works_from_another_thread(engines: dict[str, Path]) -> None:
    x = to_nchw(tinymodel.test_frames(1, 48, 64)[0])
    with open_runner(engines["fp32"]) as r:
        here = r.infer(x)
        box: list[np.ndarray] = []
        t = threading.Thread(target=lambda: box.append(r.infer(x)))
        t.start()
        t.join()
    assert_same_run(here, box[0], "fp32")


@pytest.mark.gpu
def test_open_close_leaves_no_context_current(engines: dict[str, Path]) -> None:
    """[issue 10, defect 4] primary context retained once, pushed/popped per call, never detached."""
    _, cuda = _gpu_or_skip()
    before = cuda.Context.get_current()
    for _ in range(3):
        with open_runner(engines["fp16"]) as r:
            r.infer(np.zeros((1, 3, 16, 16), np.float32))
        assert cuda.Context.get_current() == before


@pytest.mark.gpu
def test_sidecar_from_another_tensorrt_is_refused_before_loading(engines: dict[str, Path], tmp_path: Path) -> None:
    from edgesr.artifact import read_sidecar

    engine = tmp_path / "copy.engine"
    shutil.copyfile(engines["fp32"], engine)
    sc = read_sidecar(engines["fp32"])
    sc.backend_version = "7.2.3"
    write_sidecar(engine, sc)
    with pytest.raises(IncompatibleArtifactError, match="TensorRT 7.2.3.*edgesr build-engine"):
        open_runner(engine)


@pytest.mark.gpu
def test_stream_through_tensorrt_with_checks(engines: dict[str, Path], tmp_path: Path) -> None:
    from edgesr.runtime.stream import StreamSettings, run_stream

    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(30, 48, 64), audio=True)
    report = run_stream(StreamSettings(engine=engines["fp32"], source=str(video), output=str(tmp_path / "o.mp4"),
                                       reference=engines["onnx"], quiet=True))
    assert report.frames_out == report.frames_in == 30
    worst = report.psnr["worst_db"]
    assert report.psnr["checks"] == 1 and (worst == "inf" or worst > 60)


@pytest.mark.gpu
def test_dla_build_with_the_production_logger(engines: dict[str, Path], tmp_path: Path) -> None:
    """DLA (Jetson Xavier/Orin): the production builder with the process's one TensorRT logger, so a
    failure names TensorRT's own message (a second logger would leave it "no message")."""
    trt, _ = _gpu_or_skip()
    from edgesr.runtime.trt_runner import _dla_cores

    if _dla_cores(trt) < 1:
        pytest.skip("this GPU has no DLA (Jetson Xavier/Orin only)")
    static = ShapeProfile((48, 64), (48, 64), (48, 64))
    cache = tmp_path / "t.cache"
    engine = build(engines["onnx_fp16"], tmp_path / "dla.engine", "fp16", static, dla_core=0, timing_cache=cache)
    x = to_nchw(tinymodel.test_frames(1, 48, 64)[0])
    got, want = _out(engine, x), _out(engines["fp32"], x)
    assert rgb_psnr(from_nchw(got)[0], from_nchw(want)[0]) > 35
    layers = read_facts(engine)["layers"]  # which layers run on the DLA and which fell back to the GPU
    assert layers is None or layers["on_dla"] + layers["on_gpu"] == layers["count"]


# -- collection without a GPU, with and without torch --------------------------------------------------------------
BLOCK_TORCH = (
    "import sys\n"
    "class _NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'torch' or name.startswith(('torch.', 'torchvision')):\n"
    "            raise ImportError(name + ' is blocked in this test')\n"
    "sys.meta_path.insert(0, _NoTorch())\n"
)


@pytest.mark.parametrize("torch_importable", [True, False])
def test_gpu_tests_are_collected_with_and_without_torch(torch_importable: bool) -> None:
    """``pytest -m gpu --collect-only`` lists the GPU tests that build through ``engine_trt.build`` (here:
    no GPU, so they would skip when run), also where torch cannot be imported (a base Jetson install)."""
    repo = Path(__file__).resolve().parents[1]
    code = ("" if torch_importable else BLOCK_TORCH) + (
        "import pytest, sys\n"
        "sys.exit(pytest.main(['-m', 'gpu', '--collect-only', '-q', '-p', 'no:cacheprovider', "
        "'tests/test_runtime_trt.py', 'tests/test_trt_gpu.py']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    listed = {line.split("::")[1].split("[")[0] for line in out.stdout.splitlines() if "::" in line}
    assert {"test_fp16_engine_is_really_fp16", "test_int8_engine_is_really_quantised", "test_trt_matches_onnxruntime",
            "test_dla_build_with_the_production_logger", "test_open_close_leaves_no_context_current"} <= listed
    assert "test_engine_matches_onnxruntime_fp32" in listed  # tests/test_trt_gpu.py (skips at run time sans torch)
    assert "test_same_build_is_accepted" not in listed  # deselected: not a gpu test

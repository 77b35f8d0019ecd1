"""TensorRT runner. The compatibility rules (sidecar vs this machine) are pure and run everywhere; the
runner itself needs TensorRT + pycuda + an NVIDIA GPU: those tests are marked ``gpu`` and skip here with
the reason (run them on a Jetson / GPU box with ``pytest -m gpu``)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest

from edgesr.artifact import ShapeProfile, Sidecar, sha256_file, write_sidecar
from edgesr.errors import BadInputError, IncompatibleArtifactError, MissingDependencyError
from edgesr.imageops import from_nchw, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner
from edgesr.runtime.trt_compat import check_engine_compatible, same_release, sidecar_gpu
from edgesr.spec import edge_xs

import tinymodel

PROFILE = ShapeProfile((16, 16), (48, 64), (96, 128), max_batch=2)


def _sidecar(version: str = "10.3.0", device: dict | None = None, build: dict | None = None) -> Sidecar:
    return Sidecar(
        backend="tensorrt", precision="fp16", spec=edge_xs(4), profile=PROFILE, source_onnx_sha256="0" * 64,
        engine_sha256="0" * 64, backend_version=version,
        device=device if device is not None else {"gpu_name": "Orin", "compute_capability": "8.7"},
        build=build or {},
    )


# -- compatibility rules (no GPU needed) ---------------------------------------------------------------------
def test_same_build_is_accepted() -> None:
    check_engine_compatible(_sidecar("10.3.0"), "m.engine", "10.3.0.30", "Orin", (8, 7))
    assert same_release("8.6.2", "8.6.2.3") and not same_release("8.6.2", "8.6.1")


@pytest.mark.parametrize(
    "sidecar,trt,gpu,cc,needle",
    [
        (_sidecar("8.6.2"), "10.3.0", "Orin", (8, 7), "built with TensorRT 8.6.2, this machine has TensorRT 10.3.0"),
        (_sidecar(), "10.3.0", "NVIDIA GeForce RTX 3060", (8, 6), "compute 8.7"),
        (_sidecar(device={"gpu_name": "NVIDIA A10", "compute_capability": [8, 6]}), "10.3.0",
         "NVIDIA GeForce RTX 3060", (8, 6), "tied to the GPU model"),
        (_sidecar("10.3.0", build={"version_compatible": True}), "10.1.0", "Orin", (8, 7), "cannot run"),
        (_sidecar("8.6.1", build={"version_compatible": True}), "11.1.0", "Orin", (8, 7), "cannot run"),
        (_sidecar(build={"hardware_compatibility": "ampere_plus"}), "10.3.0", "Xavier", (7, 2), "Ampere"),
        (_sidecar(device={"gpu_name": "Orin", "compute_capability": "8.7", "dla_core": 1}), "10.3.0", "Orin",
         (8, 7), "DLA core 1"),
    ],
)
def test_incompatible_engines_are_refused_with_the_fix(
    sidecar: Sidecar, trt: str, gpu: str, cc: tuple[int, int], needle: str
) -> None:
    with pytest.raises(IncompatibleArtifactError) as err:
        check_engine_compatible(sidecar, "m.engine", trt, gpu, cc, dla_cores=1)
    msg = str(err.value)
    assert needle in msg and "edgesr build-engine" in msg and "\n" not in msg


def test_compatible_exceptions() -> None:
    check_engine_compatible(_sidecar("8.6.1", build={"version_compatible": True}), "m", "10.3.0", "Orin", (8, 7))
    check_engine_compatible(_sidecar("10.0.1", build={"version_compatible": True}), "m", "10.3.0", "Orin", (8, 7))
    ampere_plus = _sidecar(device={"gpu_name": "A100", "compute_capability": "8.0"},
                           build={"hardware_compatibility": "AMPERE_PLUS"})
    check_engine_compatible(ampere_plus, "m", "10.3.0", "NVIDIA GeForce RTX 4090", (8, 9))
    check_engine_compatible(_sidecar(device={}), "m", "10.3.0", "anything", (7, 5))  # nothing recorded to compare


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
def _gpu_or_skip() -> tuple[object, object]:
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (JetPack, or pip install 'edgesr[trt]')")
    cuda = pytest.importorskip("pycuda.driver", reason="pycuda is not installed (pip install 'edgesr[trt]')")
    try:
        cuda.init()
        if cuda.Device.count() < 1:
            pytest.skip("no CUDA GPU")
    except cuda.Error as exc:
        pytest.skip(f"no usable CUDA driver: {exc}")
    return trt, cuda


def build_trt_engine(onnx_path: Path, engine: Path, profile: ShapeProfile = PROFILE, fp16: bool = False) -> Path:
    """A minimal TensorRT build of an edgesr ONNX (8.5 .. 11.x), with its sidecar."""
    trt, cuda = _gpu_or_skip()
    from edgesr.runtime.trt_runner import _logger, gpu_facts

    log = _logger(trt)
    builder = trt.Builder(log)
    major = int(trt.__version__.split(".")[0])
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if major < 10 else 0  # 8.x parser needs it
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    assert parser.parse_from_file(str(onnx_path)), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 28)
    if hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    if fp16 and hasattr(trt.BuilderFlag, "FP16"):  # removed in 11.x (strongly typed): then the build stays FP32
        config.set_flag(trt.BuilderFlag.FP16)
    prof = builder.create_optimization_profile()
    mb = profile.max_batch
    prof.set_shape("lr", (1, 3, *profile.min), (1, 3, *profile.opt), (mb, 3, *profile.max))
    assert config.add_optimization_profile(prof) >= 0
    plan = builder.build_serialized_network(network, config)
    assert plan is not None, log.last()
    engine.parent.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(bytes(plan))
    meta_spec = open_runner(onnx_path).spec
    write_sidecar(engine, Sidecar(
        backend="tensorrt", precision="fp16" if fp16 else "fp32", spec=meta_spec, profile=profile,
        source_onnx_sha256=sha256_file(onnx_path), engine_sha256=sha256_file(engine), backend_version=trt.__version__,
        device=gpu_facts(cuda), reference_onnx=None,
    ))
    return engine


@pytest.fixture
def trt_engine(tmp_path: Path) -> tuple[Path, Path]:
    _gpu_or_skip()
    onnx_path = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))
    return build_trt_engine(onnx_path, tmp_path / "xs.engine"), onnx_path


@pytest.mark.gpu
def test_trt_matches_onnxruntime(trt_engine: tuple[Path, Path]) -> None:
    engine, onnx_path = trt_engine
    lr = tinymodel.test_frames(1, 48, 64)[0]
    with open_runner(engine) as trt_r, open_runner(onnx_path) as ort_r:
        assert trt_r.backend == "tensorrt" and trt_r.profile is not None and trt_r.profile.max == (96, 128)
        a = from_nchw(trt_r.infer(to_nchw(lr)))[0]
        b = from_nchw(ort_r.infer(to_nchw(lr)))[0]
    assert a.shape == (192, 256, 3) and rgb_psnr(a, b) > 60


@pytest.mark.gpu
def test_two_frames_in_flight_keep_order_and_values(trt_engine: tuple[Path, Path]) -> None:
    engine, _ = trt_engine
    frames = [to_nchw(f) for f in tinymodel.test_frames(5, 48, 64)]
    with open_runner(engine) as r:
        assert r.max_in_flight == 2
        sequential = [r.infer(x) for x in frames]
        tickets = [r.submit(frames[0]), r.submit(frames[1])]
        pipelined = []
        for x in frames[2:]:
            pipelined.append(r.result(tickets.pop(0)))
            tickets.append(r.submit(x))
        pipelined += [r.result(t) for t in tickets]
    assert all(np.array_equal(a, b) for a, b in zip(sequential, pipelined, strict=True))


@pytest.mark.gpu
def test_shapes_within_the_profile_and_refusal_outside(trt_engine: tuple[Path, Path]) -> None:
    engine, _ = trt_engine
    with open_runner(engine) as r:
        for h, w in ((16, 16), (96, 128), (33, 47)):
            assert r.infer(np.zeros((1, 3, h, w), np.float32)).shape == (1, 3, 4 * h, 4 * w)
        assert r.infer(np.zeros((2, 3, 20, 20), np.float32)).shape == (2, 3, 80, 80)
        with pytest.raises(BadInputError, match="16x16 to 96x128"):
            r.infer(np.zeros((1, 3, 100, 100), np.float32))


@pytest.mark.gpu
def test_runner_works_from_another_thread(trt_engine: tuple[Path, Path]) -> None:
    engine, _ = trt_engine
    x = to_nchw(tinymodel.test_frames(1, 48, 64)[0])
    with open_runner(engine) as r:
        here = r.infer(x)
        box: list[np.ndarray] = []
        t = threading.Thread(target=lambda: box.append(r.infer(x)))
        t.start()
        t.join()
    assert np.array_equal(here, box[0])


@pytest.mark.gpu
def test_sidecar_from_another_tensorrt_is_refused_before_loading(trt_engine: tuple[Path, Path]) -> None:
    engine, _ = trt_engine
    from edgesr.artifact import read_sidecar

    sc = read_sidecar(engine)
    sc.backend_version = "7.2.3"
    write_sidecar(engine, sc)
    with pytest.raises(IncompatibleArtifactError, match="TensorRT 7.2.3.*edgesr build-engine"):
        open_runner(engine)


@pytest.mark.gpu
def test_stream_through_tensorrt_with_checks(trt_engine: tuple[Path, Path], tmp_path: Path) -> None:
    from edgesr.runtime.stream import StreamSettings, run_stream

    engine, onnx_path = trt_engine
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(30, 48, 64), audio=True)
    report = run_stream(StreamSettings(engine=engine, source=str(video), output=str(tmp_path / "o.mp4"),
                                       reference=onnx_path, quiet=True))
    assert report["frames_out"] == report["frames_in"] == 30
    worst = report["psnr"]["worst_db"]
    assert report["psnr"]["checks"] == 1 and (worst == "inf" or worst > 60)

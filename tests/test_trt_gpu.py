"""TensorRT builds on a real GPU (`pytest -m gpu`): FP32/FP16/INT8 engines from the tiny test model,
run with the runtime's TensorRT runner and compared with ONNX Runtime FP32; timing-cache reuse;
refusal of an engine whose sidecar names another GPU; DLA where the device has one.

Skipped, with the reason, where TensorRT, pycuda, a GPU or torch (the export) is missing; the skips
happen when the tests run, so ``pytest -m gpu --collect-only`` lists them everywhere. The torch-free
GPU tests (production builder from ``tinymodel``) are in ``test_runtime_trt.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_helpers import SMALL_PROFILE, cli, session_cache, tiny_checkpoint

from edgesr.export.build import BuildConfig, build_engine
from edgesr.export.calibration import CalibrationConfig
from edgesr.runtime import open_runner

from edgesr.artifact import read_sidecar, write_sidecar
from edgesr.errors import IncompatibleArtifactError
from edgesr.imageops import downscale, load_image, to_nchw
from edgesr.metrics import psnr

pytestmark = pytest.mark.gpu
MIN_PSNR_VS_ORT = {"fp32": 50.0, "fp16": 40.0, "int8": 30.0}
trt: Any = None
cuda: Any = None


@pytest.fixture(scope="module", autouse=True)
def gpu() -> None:
    global trt, cuda
    trt = pytest.importorskip(
        "tensorrt", reason="TensorRT is not installed (JetPack on Jetson; pip install 'edgesr[trt]')"
    )
    cuda = pytest.importorskip("pycuda.driver", reason="pycuda is not installed (pip install 'edgesr[trt]')")
    pytest.importorskip("torch", reason="export needs torch (edgesr[train]); test_runtime_trt.py needs none")
    try:
        cuda.init()
        if cuda.Device.count() < 1:
            pytest.skip("no CUDA GPU")
    except cuda.Error as exc:
        pytest.skip(f"no usable CUDA driver/GPU: {exc}")


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    root = tmp_path_factory.mktemp("trt")
    with session_cache(tmp_path_factory):
        return export_onnx(
            tiny_checkpoint(root / "xs.pt"), root / "xs.onnx", ExportConfig(parity_sizes=((24, 32),))
        ).path


def config(onnx: Path, out: Path, precision: str, **kw: object) -> BuildConfig:
    return BuildConfig(
        onnx=onnx,
        output=out,
        precision=precision,
        backend="tensorrt",
        min_shape=(16, 16),
        opt_shape=(32, 48),
        max_shape=(48, 64),
        calibration=CalibrationConfig(images=4),
        **kw,  # type: ignore[arg-type]
    )


def photo_lr() -> np.ndarray:
    from edgesr.samples import samples_dir

    return to_nchw(downscale(load_image(samples_dir("holdout") / "gravel.png")[: 48 * 4, : 64 * 4], 4))


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_matches_onnxruntime_fp32(fp32_onnx: Path, tmp_path: Path, precision: str) -> None:
    engine = tmp_path / f"m.{precision}.engine"
    result = build_engine(config(fp32_onnx, engine, precision))
    sc = read_sidecar(engine)
    assert (sc.backend, sc.precision, sc.backend_version) == ("tensorrt", precision, trt.__version__)
    here = cuda.Device(0)
    assert sc.device["gpu_name"] == here.name()
    assert sc.device["compute_capability"] == "{}.{}".format(*here.compute_capability())
    assert result.gate.passed and sc.gate and sc.gate["passed"]
    assert Path(sc.build["engine"]["timing_cache"]).is_file()
    x = photo_lr()
    with open_runner(engine) as r, open_runner(fp32_onnx, providers=["cpu"]) as ref:
        assert r.backend == "tensorrt"
        got, want = r.infer(x), ref.infer(x)
        assert np.all(np.isfinite(got))
        assert psnr(np.clip(got, 0, 1), np.clip(want, 0, 1), 1.0) >= MIN_PSNR_VS_ORT[precision]
        for shape in ((1, 3, 16, 16), (1, 3, 48, 64), (1, 3, 33, 47)):  # min, max and an odd size
            y = r.infer(np.random.default_rng(0).random(shape, dtype=np.float32))
            assert y.shape == (1, 3, shape[2] * 4, shape[3] * 4)


def test_cli_build_and_timing_cache_reuse(capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path) -> None:
    cache = tmp_path / "timing.cache"
    args = ["build-engine", fp32_onnx, "--backend", "tensorrt", "--fp16", *SMALL_PROFILE, "--timing-cache", cache]
    code, _, err = cli(capsys, *args, "-o", tmp_path / "a.engine")
    assert code == 0, err
    assert cache.is_file() and cache.stat().st_size > 0
    code, _, err = cli(capsys, *args, "-o", tmp_path / "b.engine")
    assert code == 0, err
    notes = read_sidecar(tmp_path / "b.engine").build["engine"]["notes"]
    assert notes == []  # the cache from the first build matched this TensorRT and GPU


def test_engine_from_another_gpu_is_refused(fp32_onnx: Path, tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    build_engine(config(fp32_onnx, engine, "fp16"))
    moved = tmp_path / "elsewhere.engine"
    shutil.copyfile(engine, moved)
    sc = read_sidecar(engine)
    major, minor = cuda.Device(0).compute_capability()
    sc.device = {"gpu_name": "Some Other GPU", "compute_capability": f"{major + 1}.{minor}"}
    write_sidecar(moved, sc)
    with pytest.raises(IncompatibleArtifactError, match="rebuild") as info:
        open_runner(moved)
    assert "\n" not in str(info.value)


def test_dla_build_where_available(fp32_onnx: Path, tmp_path: Path) -> None:
    from edgesr.runtime.trt_runner import _dla_cores  # the process's one TensorRT logger, not a second one

    if _dla_cores(trt) < 1:
        pytest.skip("this GPU has no DLA (Jetson Xavier/Orin only)")
    engine = tmp_path / "dla.engine"
    cfg = config(fp32_onnx, engine, "fp16", dla_core=0)
    cfg = BuildConfig(**{**cfg.__dict__, "min_shape": (32, 48), "opt_shape": (32, 48), "max_shape": (32, 48)})
    build_engine(cfg)
    sc = read_sidecar(engine)
    assert sc.device["dla_core"] == 0
    report = json.loads((tmp_path / "dla.engine.gate.json").read_text())
    assert report["passed"]

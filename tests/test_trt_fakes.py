"""The TensorRT/pycuda path's error handling and cleanup, on machines without a GPU (issue 10).

``fake_trt.FakeGPU`` stands in for the ``tensorrt`` and ``pycuda`` modules (hardware libraries that cannot
run here); everything else is edgesr's real code, driven through the real CLI: ``build-engine --backend
tensorrt`` (builder, accuracy gate through the TensorRT runner) and ``stream`` (the runner). Every failure
must be one ``error:`` line with exit 1 and leave no stream, event, device or pinned memory, or context
stack entry behind (``FakeGPU.leftovers``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import SMALL_PROFILE, cli, one_line_error
from fake_trt import GPU_NAME, PLAN_MAGIC, FakeGPU, fake_layers

from edgesr.artifact import ShapeProfile, Sidecar, read_sidecar, sha256_file, write_sidecar
from edgesr.backends import EngineRequest
from edgesr.errors import EdgeSRError, IncompatibleArtifactError
from edgesr.runtime import open_runner, trt_common

CLEAN = {"streams": 0, "events": 0, "device_memory": 0, "pinned_memory": 0, "context_stack": 0,
         "unbalanced_push_pop": 0, "driver_stack_leaks": 0}
PROFILE = ShapeProfile((16, 16), (32, 48), (48, 64))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``fake(version, fail)``: install a FakeGPU and give edgesr's per-process TensorRT state a fresh start."""

    def make(version: str = "10.3.0.30", fail: tuple[str, ...] = ()) -> FakeGPU:
        monkeypatch.setattr(trt_common, "_LOGGER", None)
        monkeypatch.setattr(trt_common, "_CHECKED", set())
        monkeypatch.setattr(trt_common, "_PRIMARY", {})
        return FakeGPU(version, set(fail)).install(monkeypatch)

    return make


@pytest.fixture
def onnx_fp32(tmp_path: Path) -> Path:
    return tinymodel.tiny_onnx(tmp_path / "m.onnx")


def fake_engine(onnx_path: Path, engine: Path, version: str = "10.3.0.30") -> Path:
    """A plan as the fake builder writes it, with its sidecar (for runner tests that skip the build)."""
    import json

    layers = fake_layers(onnx_path.read_bytes(), set(), int(version.split(".")[0]), False)  # detailed verbosity
    head = json.dumps({"profile": [[1, 3, 16, 16], [1, 3, 32, 48], [1, 3, 48, 64]], "layers": layers}).encode()
    engine.write_bytes(PLAN_MAGIC + head + b"\n" + onnx_path.read_bytes())
    write_sidecar(engine, Sidecar(
        backend="tensorrt", precision="fp32", spec=open_runner(onnx_path).spec, profile=PROFILE,
        source_onnx_sha256=sha256_file(onnx_path), engine_sha256=sha256_file(engine), backend_version=version,
        device={"gpu_name": GPU_NAME, "compute_capability": "8.7"}, reference_onnx=None,
    ))
    return engine


def stream(capsys: pytest.CaptureFixture[str], engine: Path, tmp_path: Path) -> tuple[int, str, str]:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(6, 24, 32), audio=False)
    return cli(capsys, "stream", "--engine", engine, "--video", video, "-o", tmp_path / "o.mp4", "-q")


def build(capsys: pytest.CaptureFixture[str], onnx_path: Path, out: Path, *extra: object) -> tuple[int, str, str]:
    return cli(capsys, "build-engine", onnx_path, "-o", out, "--backend", "tensorrt", *SMALL_PROFILE, *extra)


# -- the happy path through the fakes: the builder, the gate and the runner really run --------------------------
def test_build_gate_and_stream_through_the_tensorrt_path_release_everything(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake()
    engine = tmp_path / "m.fp16.engine"
    code, out, err = build(capsys, onnx_fp32, engine, "--fp16")
    assert code == 0, err
    sc = read_sidecar(engine)
    assert sc.backend == "tensorrt" and sc.gate and sc.gate["passed"] and sc.build["engine"]["flags"] == ["FP16"]
    code, _, err = stream(capsys, engine, tmp_path)
    assert code == 0, err
    assert gpu.counts["stream_created"] >= 2 and gpu.counts["mem_alloc"] >= 8  # the gate's runner + the stream's
    assert gpu.leftovers() == CLEAN  # [defect 3] each runner's stream released while its context was current


def test_open_close_retains_the_primary_context_once_and_never_detaches(
    fake, onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """[defect 4] pycuda's autoprimaryctx pattern: retain once, push/pop around each use, no detach."""
    gpu = fake()
    engine = fake_engine(onnx_fp32, tmp_path / "m.engine")
    x = np.random.default_rng(0).random((1, 3, 20, 28), dtype=np.float32)
    with open_runner(onnx_fp32) as ref:
        want = ref.infer(x)
    for _ in range(3):
        with open_runner(engine) as r:
            got = r.infer(x)
        np.testing.assert_array_equal(got, want)
    assert gpu.counts["retain"] == 1 and gpu.counts["detach"] == 0
    assert gpu.leftovers() == CLEAN


# -- [defect 1] nullptr Builder / Runtime ------------------------------------------------------------------------
def test_builder_nullptr_is_one_line_with_the_loggers_message_and_the_cause(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake(fail=("builder_nullptr",))
    code, _, err = build(capsys, onnx_fp32, tmp_path / "m.engine")
    line = one_line_error(err)
    assert code == 1
    assert "could not create its Builder" in line and "error: 35" in line and "driver is older" in line
    assert "nullptr" not in line and not (tmp_path / "m.engine").exists()
    assert gpu.leftovers() == CLEAN


def test_runtime_nullptr_is_one_line(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake(fail=("runtime_nullptr",))
    code, _, err = stream(capsys, fake_engine(onnx_fp32, tmp_path / "m.engine"), tmp_path)
    line = one_line_error(err)
    assert code == 1 and "could not create its Runtime" in line and "error: 35" in line
    assert gpu.leftovers() == CLEAN


# -- [defect 2] pycuda errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fail", ["mem_alloc", "pagelocked"])
def test_out_of_gpu_memory_is_one_line_with_the_sizes(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path, fail: str  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake(fail=(fail,))
    code, _, err = stream(capsys, fake_engine(onnx_fp32, tmp_path / "m.engine"), tmp_path)
    line = one_line_error(err)
    assert code == 1 and "MemoryError" in line and "out of memory" in line
    # 2 slots x (1x3x48x64 float32 in = 36 KiB, 1x3x192x256 out = 576 KiB), and what the GPU has left
    assert "2 x (input 36 KiB + output 576 KiB)" in line and "1x3x48x64 -> 1x3x192x256" in line
    assert "512.0 MiB free of 8192.0 MiB" in line and "--max-shape" in line
    assert gpu.leftovers() == CLEAN


def test_a_launch_failure_while_streaming_is_one_line(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake(fail=("launch",))
    code, _, err = stream(capsys, fake_engine(onnx_fp32, tmp_path / "m.engine"), tmp_path)
    line = one_line_error(err)
    assert code == 1 and "LaunchError" in line and "unspecified launch failure" in line
    assert gpu.leftovers() == CLEAN


# -- [defect 5] the logger's errors are cleared before each parse, build and deserialise ---------------------------
def test_a_build_failure_never_quotes_an_earlier_error(fake, onnx_fp32: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.engine_trt import build as build_trt_engine

    gpu = fake(fail=("parse",))
    cfg = EngineRequest("fp32", PROFILE, timing_cache=tmp_path / "t.cache")
    with pytest.raises(IncompatibleArtifactError, match="fake parse failure"):
        build_trt_engine(onnx_fp32, tmp_path / "a.engine", cfg)
    gpu.fail = {"build_none"}  # the same process-wide logger, which still holds the parse error
    with pytest.raises(EdgeSRError) as err:
        build_trt_engine(onnx_fp32, tmp_path / "b.engine", cfg)
    assert "failed to build the engine: no message from TensorRT" in str(err.value)
    assert "parse" not in str(err.value)
    engine = fake_engine(onnx_fp32, tmp_path / "c.engine")
    engine.write_bytes(b"not a plan")
    sc = read_sidecar(engine)
    sc.engine_sha256 = sha256_file(engine)
    write_sidecar(engine, sc)
    with pytest.raises(IncompatibleArtifactError) as err:
        open_runner(engine)
    assert "magicTagRead" in str(err.value) and "parse" not in str(err.value)
    assert gpu.leftovers() == CLEAN


# -- [defect 6] TensorRT older than 8.5: refused once, at import, in one line --------------------------------------
def test_tensorrt_8_4_is_refused_before_any_work(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake(version="8.4.1.5")
    code, _, err = build(capsys, onnx_fp32, tmp_path / "m.engine", "--fp16")
    line = one_line_error(err)
    assert code == 1 and "TensorRT 8.5 or newer" in line and "found TensorRT 8.4.1.5" in line and "JetPack" in line
    assert gpu.counts["builder"] == 0 and gpu.counts["plans"] == 0  # refused before building anything
    code, _, err = stream(capsys, fake_engine(onnx_fp32, tmp_path / "m.engine", "8.4.1.5"), tmp_path)
    assert code == 1 and "found TensorRT 8.4.1.5" in one_line_error(err)
    assert gpu.counts["runtime"] == 0 and gpu.leftovers() == CLEAN


# -- [defect 7] pycuda pin -----------------------------------------------------------------------------------------
def test_trt_extra_pins_a_pycuda_that_builds_against_cuda_13() -> None:
    try:
        import tomllib  # novermin (3.11+; tomli below on 3.10)
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "pycuda>=2025.1.2" in meta["project"]["optional-dependencies"]["trt"]


# -- [defect 8] a timing cache that cannot be written ---------------------------------------------------------------
def test_unwritable_timing_cache_is_a_warning_and_the_engine_is_kept(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    gpu = fake()
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()  # writable when build-engine checks its paths up front ...

    def folder_becomes_a_file() -> None:  # ... and gone while the engine builds (fails even as root, unlike chmod)
        cache_dir.rmdir()
        cache_dir.write_text("a file where the cache's folder was")

    gpu.during_build = folder_becomes_a_file
    engine = tmp_path / "m.engine"
    code, out, err = build(capsys, onnx_fp32, engine, "--timing-cache", cache_dir / "timing.cache")
    assert code == 0, err
    assert engine.is_file() and read_sidecar(engine).gate["passed"]
    assert "warning: timing cache not saved" in " ".join(out.split())
    assert read_sidecar(engine).build["engine"]["warnings"]


# -- [defect 9] strongly typed TensorRT: the precision is the ONNX's --------------------------------------------------
def test_tensorrt_11_refuses_a_precision_the_onnx_does_not_have(fake, onnx_fp32: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from edgesr.export.engine_trt import build as build_trt_engine

    gpu = fake(version="11.1.0.5")
    fp16_onnx = tinymodel.tiny_onnx(tmp_path / "m16.onnx", fp16_weights=True)  # marked edgesr.precision=fp16
    cache = tmp_path / "t.cache"
    with pytest.raises(IncompatibleArtifactError, match=r"strongly typed .*m\.onnx is fp32 .*not fp16"):
        build_trt_engine(onnx_fp32, tmp_path / "a.engine", EngineRequest("fp16", PROFILE, timing_cache=cache))
    with pytest.raises(IncompatibleArtifactError, match="is fp16 .*not int8"):
        build_trt_engine(fp16_onnx, tmp_path / "a.engine", EngineRequest("int8", PROFILE, timing_cache=cache))
    assert gpu.counts["builder"] == 0  # refused before any GPU work
    facts = build_trt_engine(fp16_onnx, tmp_path / "b.engine", EngineRequest("fp16", PROFILE, timing_cache=cache)).facts
    assert facts["strongly_typed"] and facts["flags"] == [] and gpu.last_flags == []


def test_tensorrt_11_cli_fp16_build_uses_the_fp16_onnx(
    fake, capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    fake(version="11.1.0.5")
    code, _, err = build(capsys, onnx_fp32, tmp_path / "m.engine", "--fp16")
    assert code == 0, err
    assert read_sidecar(tmp_path / "m.engine").build["engine"]["strongly_typed"] is True



# -- a dry run of the GPU tests' own code ------------------------------------------------------------------------
def test_the_gpu_tests_run_against_the_fakes() -> None:
    """``pytest -m gpu tests/test_runtime_trt.py`` with the fakes installed: their fixture (production builder,
    FP16 / Q-DQ variants, calibration, sidecars, the inspector's layer record) and assertions run here, so a
    Jetson run does not find their bugs first. DLA (the fake GPU has none) skips with its reason."""
    repo = Path(__file__).resolve().parents[1]
    code = (
        "import sys; sys.path.insert(0, 'tests'); import fake_trt; fake_trt.FakeGPU().install_for_process()\n"
        "import pytest; sys.exit(pytest.main(['-m', 'gpu', '-q', '-rs', '-p', 'no:cacheprovider', "
        "'tests/test_runtime_trt.py']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert "9 passed" in summary and "failed" not in summary and "error" not in summary, out.stdout[-3000:]
    assert "no DLA" in out.stdout and "engine inspector" not in out.stdout  # the skip, with its reason

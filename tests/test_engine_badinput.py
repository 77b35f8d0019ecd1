"""Must-show 4: bad input to `edgesr export` / `edgesr build-engine`, each a one-line `error:` with
its exit code (1 error, 2 usage), nothing half-written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import onnx
import pytest
from export_helpers import SMALL_PROFILE, cli, one_line_error, session_cache, tiny_checkpoint
from onnx import TensorProto, helper

pytest.importorskip("torch", reason="export needs torch (edgesr[train])")
ORT = ["--backend", "onnxruntime", *SMALL_PROFILE]


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    root = tmp_path_factory.mktemp("bad")
    with session_cache(tmp_path_factory):
        return export_onnx(
            tiny_checkpoint(root / "xs.pt"), root / "xs.onnx", ExportConfig(parity_sizes=((24, 32),))
        ).path


def other_model(path: Path, shape: list[int], inp: str = "x", out: str = "y") -> Path:
    """A valid ONNX of something else (e.g. a classifier head: rank-2 input)."""
    graph = helper.make_graph(
        [helper.make_node("Relu", [inp], [out])],
        "other",
        [helper.make_tensor_value_info(inp, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, shape)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_non_onnx_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junk = tmp_path / "model.onnx"
    junk.write_text("this is a README, not a model\n" * 20)
    code, _, err = cli(capsys, "build-engine", junk, *ORT)
    assert code == 1 and "model.onnx is not an ONNX model" in one_line_error(err)


def test_onnx_of_another_model_wrong_rank(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = other_model(tmp_path / "classifier.onnx", [1, 1000])
    code, _, err = cli(capsys, "build-engine", path, *ORT)
    line = one_line_error(err)
    assert code == 1 and "classifier.onnx is not an edgesr SR model" in line and "rank 4" in line


def test_onnx_without_edgesr_metadata(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = other_model(tmp_path / "foreign.onnx", [1, 3, 32, 32], inp="lr", out="sr")  # right names, no metadata
    code, _, err = cli(capsys, "build-engine", path, *ORT)
    assert code == 1 and "carries no edgesr model spec" in one_line_error(err) and "edgesr export" in err


def test_calibration_folder_without_images(capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path) -> None:
    empty = tmp_path / "calib"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    out = tmp_path / "m.engine"
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", out, *ORT, "--int8", "--calib-data", empty)
    assert code == 1 and "no images" in one_line_error(err) and str(empty) in err
    assert not out.exists()


def test_max_shape_smaller_than_min_shape(capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path) -> None:
    args = ["--backend", "onnxruntime", "--min-shape", "64x64", "--max-shape", "32x32"]
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "m.engine", *args)
    assert code == 2 and "min <= opt <= max" in one_line_error(err)
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "m.engine", "--max-shape", "48by64")
    assert code == 2 and "HxW" in one_line_error(err)


def test_engine_sidecar_from_another_gpu(capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path) -> None:
    """A TensorRT engine whose sidecar names another GPU: refused before deserialising, one line. Here
    (no TensorRT) the refusal names the missing TensorRT; on a GPU machine, the GPU mismatch."""
    import tinymodel

    from edgesr.artifact import ShapeProfile, Sidecar, sha256_file, write_sidecar
    from edgesr.spec import edge_xs

    engine = tmp_path / "orin.engine"
    engine.write_bytes(b"\x00serialized TensorRT plan from another machine" * 64)
    write_sidecar(
        engine,
        Sidecar(
            backend="tensorrt",
            precision="fp16",
            spec=edge_xs(4),
            profile=ShapeProfile((16, 16), (32, 48), (48, 64)),
            source_onnx_sha256=sha256_file(fp32_onnx),
            engine_sha256=sha256_file(engine),
            backend_version="10.3.0.30",
            device={"gpu_name": "Orin (nvgpu)", "compute_capability": "8.7"},
        ),
    )
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(3, 24, 32), audio=False)
    code, _, err = cli(capsys, "stream", "--engine", engine, "--video", video, "-o", "none")
    line = one_line_error(err)
    assert code == 1
    if importlib.util.find_spec("tensorrt") is None:
        assert "tensorrt is not installed" in line
    else:
        assert "rebuild" in line


def test_sidecar_device_keys_are_what_the_runtime_checks(fp32_onnx: Path) -> None:
    """The builder records the GPU with the one probe the runtime uses (`machine.gpu_facts`); another GPU is then
    refused."""
    from edgesr.runtime.trt_compat import check_engine_compatible

    from edgesr.artifact import ShapeProfile, Sidecar
    from edgesr.errors import IncompatibleArtifactError
    from edgesr.spec import edge_xs

    class FakePycudaDevice:  # stands in for pycuda.driver: the shape of what the builder records
        class Device:
            def __init__(self, index: int) -> None:
                pass

            def name(self) -> str:
                return "NVIDIA GeForce RTX 4090"

            def compute_capability(self) -> tuple[int, int]:
                return (8, 9)

    from edgesr.machine import GpuFacts, gpu_facts

    facts = gpu_facts(FakePycudaDevice, 0)
    assert facts is not None
    device = facts.sidecar()
    sc = Sidecar(
        "tensorrt", "fp16", edge_xs(4), ShapeProfile((16, 16), (32, 48), (48, 64)), "a", "b", "10.16.0", device
    )
    check_engine_compatible(sc, "m.engine", "10.16.0", GpuFacts("NVIDIA GeForce RTX 4090", (8, 9)))  # same GPU: fine
    with pytest.raises(IncompatibleArtifactError, match="rebuild it on this device") as info:
        check_engine_compatible(sc, "m.engine", "10.16.0", GpuFacts("NVIDIA Jetson AGX Orin", (8, 7)))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fp16", "--int8"], "--fp16 and --int8 conflict"),
        (["--dla-core", "0", "--fp16"], "--dla-core needs --backend tensorrt"),
        (["--fp16", "--calib-images", "8"], "--calib-images only apply to --int8"),
        (["--int8-keep", "none"], "--int8-keep only apply to --int8"),
        (["--int8", "--int8-keep", "/no/such/Conv"], "'/no/such/Conv' is not a node or module of the model"),
        (["--int8", "--int8-keep", "head,conv1"], "'conv1' is ambiguous: it ends body.0.conv1, body.1.conv1"),
        (["--int8", "--calib-method", "median"], "--calib-method must be one of"),
    ],
)
def test_conflicting_flags_are_refused(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "m.engine"
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", out, *ORT, *args)
    assert code == 2 and message in one_line_error(err)
    assert not out.exists()


def test_tensorrt_backend_without_tensorrt(capsys: pytest.CaptureFixture[str], fp32_onnx: Path) -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "--backend", "tensorrt")
    line = one_line_error(err)
    assert code == 1 and "JetPack" in line and "edgesr[trt]" in line and "--backend onnxruntime" in line


def test_precision_variant_or_output_over_source_refused(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", fp32_onnx, *ORT)
    assert code == 2 and "refusing to overwrite an input" in one_line_error(err)
    engine = tmp_path / "m.engine"
    assert cli(capsys, "build-engine", fp32_onnx, "-o", engine, *ORT, "--fp16")[0] == 0
    code, _, err = cli(capsys, "build-engine", engine, "-o", tmp_path / "again.engine", *ORT, "--int8")
    assert code == 2 and "is already fp16" in one_line_error(err)


def test_check_data_all_used_for_calibration(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, set5: Path, tmp_path: Path
) -> None:
    args = [*ORT, "--int8", "--calib-data", set5, "--calib-images", "5", "--calib-mix", "none", "--check-data", set5]
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "m.engine", *args)
    assert code == 1 and "was used for calibration" in one_line_error(err)


def test_export_bad_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = cli(capsys, "export", bad, "-o", tmp_path / "m.onnx")
    assert code == 1 and "weights.pt is not a readable edgesr checkpoint" in one_line_error(err)
    code, _, err = cli(capsys, "export", tmp_path / "missing.pt", "-o", tmp_path / "m.onnx")
    assert code == 1 and "checkpoint not found" in one_line_error(err)
    assert not (tmp_path / "m.onnx").exists()

"""Triton model repositories written by `edgesr build-engine --triton-repo`, checked against Triton's own
model-config protobuf (tritonclient ships it), and the refusals of the Triton flags and addresses. The real
server runs in test_triton_server.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgesr.artifact import ShapeProfile, Sidecar, read_sidecar, sha256_file, write_sidecar
from edgesr.errors import IncompatibleArtifactError, UsageError
from edgesr.runtime.triton_runner import PRECISION_PARAM, SPEC_PARAM, parse_triton_uri
from edgesr.spec import ModelSpec

import tinymodel
from triton_env import free_port

EDGESR = [sys.executable, "-m", "edgesr"]
text_format = pytest.importorskip("google.protobuf.text_format", reason="tritonclient (dev extra) brings protobuf")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] not installed")


def edgesr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGESR, *args], capture_output=True, text=True)


def parse(folder: Path):  # type: ignore[no-untyped-def]
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tinymodel.tiny_onnx(tmp_path_factory.mktemp("triton") / "tiny.onnx")


def test_build_engine_writes_a_repository_triton_accepts(fp32_onnx: Path, tmp_path: Path) -> None:
    engine, repo = tmp_path / "sr.onnx", tmp_path / "repo"
    out = edgesr("build-engine", str(fp32_onnx), "--fp16", "--backend", "onnxruntime", "-o", str(engine),
                 "--max-batch", "4", "--triton-repo", str(repo), "--triton-instance", "cpu")
    assert out.returncode == 0, out.stderr[-2000:]
    folder = repo / "sr"
    cfg = parse(folder)
    assert (cfg.name, cfg.platform, cfg.max_batch_size) == ("sr", "onnxruntime_onnx", 4)
    assert [(t.name, list(t.dims)) for t in cfg.input] == [("lr", [3, -1, -1])]
    assert [(t.name, list(t.dims)) for t in cfg.output] == [("sr", [3, -1, -1])]
    assert cfg.input[0].data_type == model_config_pb2.TYPE_FP32
    assert cfg.HasField("dynamic_batching")
    assert [(g.kind, g.count) for g in cfg.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 1)]
    sidecar = read_sidecar(engine)
    assert ModelSpec.from_json(cfg.parameters[SPEC_PARAM].string_value) == sidecar.spec
    assert cfg.parameters[PRECISION_PARAM].string_value == "fp16"
    version = folder / "1"
    assert sorted(p.name for p in version.iterdir()) == ["model.onnx", "model.onnx.gate.json", "model.onnx.json"]
    assert sha256_file(version / "model.onnx") == sha256_file(engine)
    assert json.loads((version / "model.onnx.json").read_text()) == sidecar.to_dict()
    assert "Triton repository" in out.stdout and "checked against Triton" in out.stdout


def test_a_fixed_tile_shape_and_an_existing_model_folder(fp32_onnx: Path, tmp_path: Path) -> None:
    engine, repo = tmp_path / "m.onnx", tmp_path / "repo"
    out = edgesr("build-engine", str(fp32_onnx), "--backend", "onnxruntime", "-o", str(engine), "--triton-repo",
                 str(repo), "--triton-name", "tile", "--triton-shape", "64x96")
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = parse(repo / "tile")
    assert list(cfg.input[0].dims) == [3, 64, 96] and list(cfg.output[0].dims) == [3, 256, 384]
    again = edgesr("build-engine", str(fp32_onnx), "--backend", "onnxruntime", "-o", str(tmp_path / "n.onnx"),
                   "--triton-repo", str(repo), "--triton-name", "tile")
    assert again.returncode == 2 and "exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "n.onnx").exists(), "refused before the build"


def test_a_tensorrt_plan_gets_the_engines_profile(fp32_onnx: Path, tmp_path: Path) -> None:
    """The writer copies the plan byte for byte; its config follows the sidecar (a plan cannot be built here)."""
    from edgesr.export.triton_repo import TritonModelOptions, write_triton_repo

    plan = tmp_path / "m.engine"
    plan.write_bytes(b"serialized TensorRT engine bytes")
    spec = read_sidecar(tinymodel.ort_engine(tmp_path / "o.onnx", fp32_onnx)).spec
    write_sidecar(plan, Sidecar("tensorrt", "int8", spec, ShapeProfile((32, 32), (180, 320), (270, 480), 8),
                                "0" * 64, sha256_file(plan), "10.3.0"))
    folder = write_triton_repo(plan, tmp_path / "repo", TritonModelOptions(shape=(180, 320)))
    cfg = parse(folder)
    assert (cfg.platform, cfg.max_batch_size, cfg.default_model_filename) == ("tensorrt_plan", 8, "model.plan")
    assert [list(g.profile) for g in cfg.instance_group] == [["0"]]
    assert (folder / "1" / "model.plan").read_bytes() == plan.read_bytes()
    with pytest.raises(UsageError, match="outside the engine's profile"):
        write_triton_repo(plan, tmp_path / "repo2", TritonModelOptions(shape=(300, 320)))
    assert not (tmp_path / "repo2" / "m").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--triton-name", "x"], "--triton-name need --triton-repo"),
        (["--triton-repo", "R", "--triton-name", "a b"], "--triton-name 'a b'"),
        (["--triton-repo", "R", "--triton-instance", "tpu"], "--triton-instance must be one of gpu, cpu"),
    ],
)
def test_triton_flags_refused_in_one_line(fp32_onnx: Path, tmp_path: Path, args: list[str], says: str) -> None:
    args = [str(tmp_path / a) if a == "R" else a for a in args]
    out = edgesr("build-engine", str(fp32_onnx), "--backend", "onnxruntime", "-o", str(tmp_path / "m.onnx"), *args)
    assert out.returncode == 2, out.stderr
    assert says in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "uri, want",
    [
        ("triton://gpu-server:8001/edgesr", ("grpc", "gpu-server", 8001, "edgesr", "")),
        ("triton://10.0.0.5/sr/3", ("grpc", "10.0.0.5", 8001, "sr", "3")),
        ("triton+http://[::1]:8000/sr", ("http", "::1", 8000, "sr", "")),
    ],
)
def test_triton_addresses(uri: str, want: tuple[object, ...]) -> None:
    a = parse_triton_uri(uri)
    assert (a.protocol, a.host, a.port, a.model, a.version) == want


@pytest.mark.parametrize(
    "uri", ["triton://host:8001/", "triton://host:8001/a/b/c", "triton://host:8001/m/latest", "triton://:8001/m",
            "triton://u:pw@host:8001/m", "triton://host:99999/m"]
)
def test_malformed_triton_addresses_refused(uri: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_triton_uri(uri)
    assert "pw" not in str(err.value)


def test_no_server_is_one_line(tmp_path: Path) -> None:
    clip = tinymodel.write_video(tmp_path / "c.mp4", tinymodel.test_frames(3, 24, 32), audio=False)
    out = edgesr("stream", "--engine", f"triton://127.0.0.1:{free_port()}/edgesr", "--video", str(clip),
                 "-o", str(tmp_path / "o.mp4"))
    assert out.returncode == 1
    assert out.stderr.startswith("error: cannot reach Triton at 127.0.0.1:"), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_serve_refuses_to_serve_open_beyond_loopback(fp32_onnx: Path) -> None:
    out = edgesr("serve", "--engine", str(fp32_onnx), "--listen", "0.0.0.0")
    assert out.returncode == 2 and "--insecure-no-auth" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_model_without_an_edgesr_spec_is_refused() -> None:
    from edgesr.runtime.triton_runner import model_description

    config = {"name": "yolo", "input": [{"name": "images"}], "output": [{"name": "output0"}]}
    with pytest.raises(IncompatibleArtifactError, match="carries no edgesr model spec"):
        model_description(config, "Triton model triton://h:8001/yolo")

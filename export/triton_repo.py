"""``edgesr build-engine ... --triton-repo DIR``: a Triton Inference Server model repository from a built engine.

    DIR/NAME/config.pbtxt
    DIR/NAME/1/model.onnx | model.plan        the engine, byte for byte
    DIR/NAME/1/model.onnx.json                its sidecar (spec, profile, gate, build facts), for provenance
    DIR/NAME/1/model.onnx.gate.json           the gate report, where the build wrote one

The config gives ``max_batch_size`` (the engine's max batch), input ``lr`` and output ``sr`` with dims
``[C, -1, -1]`` (or a fixed tile shape: Triton's dynamic batcher joins only requests of the same shape),
``dynamic_batching``, an instance group, and the edgesr spec and precision as parameters, so that
``--engine triton://HOST:PORT/NAME`` knows what it talks to. For a TensorRT plan the instance group uses the
engine's one optimisation profile (0) and the dims must lie inside it. Every written config is parsed with
Triton's own model-config protobuf where tritonclient is installed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgesr.artifact import INPUT_NAME, OUTPUT_NAME, Sidecar, fmt_hw, read_sidecar, sidecar_path, temp_name
from edgesr.errors import BadInputError, IncompatibleArtifactError, UsageError
from edgesr.runtime.triton_runner import spec_parameters

PLATFORMS = {"tensorrt": ("tensorrt_plan", "model.plan"), "onnxruntime": ("onnxruntime_onnx", "model.onnx")}
INSTANCE_KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class TritonModelOptions:
    name: str | None = None  # default: the engine's file stem
    shape: tuple[int, int] | None = None  # fixed LR HxW; None = dynamic [-1, -1]
    instance: str = "gpu"  # gpu | cpu
    count: int = 1
    queue_delay_us: int = 2000

    def __post_init__(self) -> None:
        if self.name is not None and not NAME_RE.match(self.name):
            raise UsageError(f"--triton-name {self.name!r}: use letters, digits, '_', '-', '.' (at most 64)")
        if self.instance not in INSTANCE_KINDS:
            raise UsageError(f"--triton-instance must be one of {', '.join(INSTANCE_KINDS)}, got {self.instance!r}")
        if self.count < 1 or self.queue_delay_us < 0:
            raise UsageError("Triton instance count must be >= 1 and the queue delay >= 0")


def model_name(engine: Path, name: str | None) -> str:
    if name is not None:
        return name
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", engine.name.split(".")[0]) or "edgesr"
    return stem[:64]


def _pb_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def config_text(sidecar: Sidecar, name: str, opts: TritonModelOptions) -> str:
    """``config.pbtxt`` for an engine described by ``sidecar``."""
    platform, filename = PLATFORMS[sidecar.backend]
    c, s = sidecar.spec.in_channels, sidecar.spec.scale
    if opts.shape is None:
        dims_in, dims_out = [c, -1, -1], [c, -1, -1]
    else:
        if sidecar.backend == "tensorrt" and not sidecar.profile.accepts(*opts.shape):
            raise UsageError(
                f"--triton-shape {fmt_hw(opts.shape)} is outside the engine's profile {sidecar.profile.describe()}"
            )
        dims_in, dims_out = [c, *opts.shape], [c, opts.shape[0] * s, opts.shape[1] * s]
    group = f"    kind: {INSTANCE_KINDS[opts.instance]}\n    count: {opts.count}\n"
    if sidecar.backend == "tensorrt":
        group += '    profile: [ "0" ]\n'
    params = "".join(
        f"parameters {{\n  key: {_pb_string(k)}\n  value {{ string_value: {_pb_string(v)} }}\n}}\n"
        for k, v in spec_parameters(sidecar.spec, sidecar.precision).items()
    )
    return (
        f"name: {_pb_string(name)}\n"
        f"platform: {_pb_string(platform)}\n"
        f"default_model_filename: {_pb_string(filename)}\n"
        f"max_batch_size: {sidecar.profile.max_batch}\n"
        f"input [\n  {{\n    name: {_pb_string(INPUT_NAME)}\n    data_type: TYPE_FP32\n    dims: {dims_in}\n  }}\n]\n"
        f"output [\n  {{\n    name: {_pb_string(OUTPUT_NAME)}\n    data_type: TYPE_FP32\n"
        f"    dims: {dims_out}\n  }}\n]\n"
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {opts.queue_delay_us}\n}}\n"
        f"instance_group [\n  {{\n{group}  }}\n]\n"
        "version_policy: { latest: { num_versions: 1 } }\n"
        f"{params}"
    )


def check_config(text: str) -> bool:
    """Parse ``text`` with Triton's model-config protobuf (shipped by tritonclient). True when checked, False
    when tritonclient is not installed; a config Triton would reject raises ``IncompatibleArtifactError``."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        return False
    try:
        text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise IncompatibleArtifactError(f"config.pbtxt does not parse as Triton's ModelConfig: {exc}") from None
    return True


def write_triton_repo(engine: Path, repo: Path, opts: TritonModelOptions | None = None) -> Path:
    """Write ``repo/NAME`` (version 1) for ``engine`` and its sidecar; returns the model folder. An existing
    model folder is refused, never replaced; the folder appears whole or not at all."""
    opts = opts or TritonModelOptions()
    engine = Path(engine)
    sidecar = read_sidecar(engine)
    if sidecar.backend not in PLATFORMS:
        raise IncompatibleArtifactError(f"{engine.name}: Triton serves {' and '.join(PLATFORMS)} engines, not "
                                        f"{sidecar.backend}")
    name = model_name(engine, opts.name)
    text = config_text(sidecar, name, opts)
    check_config(text)
    if repo.exists() and not repo.is_dir():
        raise BadInputError(f"--triton-repo {repo} is not a folder")
    target = repo / name
    if target.exists():
        raise BadInputError(f"{target} exists: pass another --triton-name, or remove it first")
    repo.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target, "triton")
    filename = PLATFORMS[sidecar.backend][1]
    try:
        (tmp / "1").mkdir(parents=True)
        (tmp / "config.pbtxt").write_text(text)
        shutil.copyfile(engine, tmp / "1" / filename)
        shutil.copyfile(sidecar_path(engine), tmp / "1" / f"{filename}.json")
        gate = engine.with_name(engine.name + ".gate.json")
        if gate.is_file():
            shutil.copyfile(gate, tmp / "1" / f"{filename}.gate.json")
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target

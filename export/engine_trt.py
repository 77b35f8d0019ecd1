"""``--backend tensorrt``: parse the verified ONNX and build a serialized plan.

Written against the TensorRT Python API of 8.5 (JetPack 5), 8.6, 10.x (JetPack 6 = 10.3,
desktop up to 10.16) and 11.x; version facts from ``../shared/reference/TENSORRT_API.md``
(binding sources pyCore.cpp / NvInfer.h per release branch). Version switches, each
feature-detected with ``hasattr`` and named here:

- [V1] 8.x: ``create_network`` needs ``EXPLICIT_BATCH`` (flags=0 is implicit batch, which the
  ONNX parser refuses). 10.x: always explicit, the flag is deprecated and ignored. 11.x: the
  member is gone (AttributeError). Never hard-code flag integers: they are renumbered.
- [V2] Precision, TensorRT <= 10 (weakly typed; we do not set ``STRONGLY_TYPED`` on 10.x):
  fp16 = the FP16 ONNX + ``BuilderFlag.FP16``; int8 = the Q/DQ ONNX + ``BuilderFlag.INT8``
  (required for Q/DQ on weakly typed builds) + ``FP16`` (layers outside Q/DQ may use FP16).
  TensorRT 11 (always strongly typed): the flags no longer exist; the FP16 ONNX or the Q/DQ
  ONNX carries the precision and no flag is set. We never skip a missing flag silently: the
  precision always comes from the ONNX we parse, so 11.x cannot quietly build FP32.
- [V3] fp32: ``BuilderFlag.TF32`` is cleared where it exists (TensorRT enables TF32 by
  default on Ampere+; an "fp32" engine should be FP32).
- [V4] ``set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)`` (8.3+; ``max_workspace_size``
  is gone in 10.0).
- [V5] Timing cache: ``create_timing_cache(bytes)`` + ``set_timing_cache(cache, False)`` in
  all versions; the file is keyed by TensorRT version + GPU name + compute capability.
- [V6] DLA: ``default_device_type = DeviceType.DLA``, ``DLA_core``, ``GPU_FALLBACK``; DLA needs
  FP16/INT8 and static shapes ("DLA does not support dynamic dimensions"), so min = opt = max is
  required. TensorRT 11 has DLA only from 11.4.1 on JetPack 7.2.2+; ``num_DLA_cores`` says.
- [V7] ``build_serialized_network`` (``build_engine`` is gone in 10.0); None = failure, the
  reason is only in the logger, which we collect (cleared before the parse and the build).
- [V8] TensorRT 11 is strongly typed: the precision is the ONNX's. A build whose requested
  precision is not the ONNX's ``edgesr.precision`` metadata is refused, so an FP16 request can
  never quietly produce an FP32 engine.
- [V9] ``config.profiling_verbosity = ProfilingVerbosity.DETAILED`` (8.2+, hasattr-guarded): the
  plan records each layer's precision, so ``engine.create_engine_inspector()`` (and polygraphy /
  trex) can show what TensorRT really chose; no effect on speed.

Failures that are the machine's, not the model's (TensorRT < 8.5, a nullptr ``trt.Builder`` when
TensorRT cannot start CUDA, pycuda errors) are one-line ``DeviceError``s/``MissingDependencyError``s
(``edgesr.runtime.trt_common``). A timing cache that cannot be written is a warning: the engine is kept.

Polygraphy (installed with the dev extras) wraps the same calls; we call TensorRT directly
to keep the Jetson install small and each version switch visible here, and recommend
``polygraphy inspect model model.engine`` / ``polygraphy run`` for cross-checks.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesr.artifact import INPUT_NAME, ShapeProfile
from edgesr.errors import (
    DeviceError,
    EdgeSRError,
    IncompatibleArtifactError,
    UsageError,
    require,
)
from edgesr.samples import cache_dir

NO_TENSORRT = (
    "TensorRT is not installed: on Jetson it comes with JetPack (sudo apt install nvidia-jetpack), on a desktop "
    "pip install 'edgesr[trt]'; or build for ONNX Runtime with --backend onnxruntime"
)


@dataclass(frozen=True)
class TrtBuildConfig:
    precision: str  # fp32 | fp16 | int8
    profile: ShapeProfile
    workspace_mib: int | None = 1024
    timing_cache: Path | None = None  # None = keyed file under the edgesr cache
    dla_core: int | None = None

    def __post_init__(self) -> None:
        if self.dla_core is not None:
            if self.dla_core < 0:
                raise UsageError(f"--dla-core must be 0 or more, got {self.dla_core}")
            if self.precision == "fp32":
                raise UsageError("DLA runs FP16 or INT8 only: add --fp16 or --int8 to use --dla-core")
            p = self.profile
            if not (p.min == p.opt == p.max and p.max_batch == 1):
                raise UsageError(
                    "DLA needs static shapes: pass the same --min-shape, --opt-shape and --max-shape "
                    f"(got {p.describe()}) and --max-batch 1"
                )
        if self.workspace_mib is not None and self.workspace_mib < 1:
            raise UsageError(f"--workspace must be at least 1 MiB, got {self.workspace_mib}")


def import_tensorrt() -> Any:
    """``tensorrt``, refused in one line if missing or older than 8.5 (checked once per process)."""
    from edgesr.runtime.trt_common import import_tensorrt as _import

    return _import("needed for --backend tensorrt")


def tensorrt_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None


def trt_major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


def gpu_info() -> dict[str, Any]:
    """GPU 0's name and compute capability (pycuda, which the TensorRT runner needs anyway),
    with the keys the runtime's compatibility check reads (``edgesr.runtime.trt_compat``)."""
    from edgesr.runtime.trt_runner import WHY, gpu_facts

    cuda = require("pycuda.driver", extra="trt", why=WHY)
    try:
        cuda.init()
        if cuda.Device.count() < 1:
            raise DeviceError("no CUDA GPU found: TensorRT engines are built on the GPU that will run them")
        return dict(gpu_facts(cuda, 0))
    except cuda.Error as exc:
        raise DeviceError(f"no usable CUDA driver/GPU: {exc}") from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def timing_cache_path(trt_version: str, device: dict[str, Any]) -> Path:
    """[V5] Timing caches are specific to the TensorRT version and the GPU: one file per pair."""
    key = _slug(f"timing-trt{trt_version}-{device['gpu_name']}-cc{device['compute_capability']}")
    return cache_dir() / "tensorrt" / f"{key}.cache"


def network_flags(trt: Any) -> int:
    """[V1] EXPLICIT_BATCH on 8.x only; 0 on 10.x (ignored there) and 11.x (member removed)."""
    creation = trt.NetworkDefinitionCreationFlag
    if trt_major(trt) < 10 and hasattr(creation, "EXPLICIT_BATCH"):
        return 1 << int(creation.EXPLICIT_BATCH)
    return 0


def precision_flags(trt: Any, precision: str) -> list[str]:
    """[V2]/[V3] Builder flags to set (``-TF32`` = clear) for ``precision`` on this TensorRT."""
    strongly_typed = trt_major(trt) >= 11
    flags: list[str] = []
    if precision == "fp32":
        if hasattr(trt.BuilderFlag, "TF32"):
            flags.append("-TF32")
    elif not strongly_typed:
        wanted = ["FP16"] if precision == "fp16" else ["INT8", "FP16"]
        missing = [f for f in wanted if not hasattr(trt.BuilderFlag, f)]
        if missing:
            raise IncompatibleArtifactError(f"TensorRT {trt.__version__} has no BuilderFlag {missing}")
        flags += wanted
    return flags


def check_onnx_precision(trt: Any, onnx_path: Path, precision: str) -> None:
    """[V8] Strongly typed TensorRT (11.x) takes the precision from the ONNX: refuse a mismatch."""
    if trt_major(trt) < 11:
        return
    import onnx

    from edgesr.artifact import ONNX_PRECISION_KEY

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:
        raise IncompatibleArtifactError(f"cannot read {onnx_path.name}: {' '.join(str(exc).split())[:200]}") from None
    found = {p.key: p.value for p in model.metadata_props}.get(ONNX_PRECISION_KEY)
    if found != precision:
        raise IncompatibleArtifactError(
            f"TensorRT {trt.__version__} is strongly typed (the ONNX's types are the engine's precision), and "
            f"{onnx_path.name} is {found or 'not marked'} ({ONNX_PRECISION_KEY}), not {precision}: give the "
            f"{precision} ONNX (`edgesr build-engine` makes it from the FP32 ONNX)"
        )


def _parse(trt: Any, builder: Any, onnx_path: Path, logger: Any) -> Any:
    logger.clear()  # a parse error below is about this file, never an earlier failure
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or [logger.last()]
        first = " ".join((errors or ["unknown parser error"])[0].split())
        raise IncompatibleArtifactError(f"TensorRT {trt.__version__} cannot parse {onnx_path.name}: {first[:300]}")
    return network, parser


def build_trt_engine(
    onnx_path: str | os.PathLike[str], out: str | os.PathLike[str], cfg: TrtBuildConfig
) -> dict[str, Any]:
    """Build ``out`` from the precision's ONNX; returns the device/build facts for the sidecar."""
    from edgesr.runtime.trt_common import create, trt_logger  # one logger per process, shared with the runner

    trt = import_tensorrt()
    check_onnx_precision(trt, Path(onnx_path), cfg.precision)  # [V8], before any GPU work
    logger = trt_logger(trt)
    device = gpu_info()
    notes: list[str] = []
    warnings: list[str] = []
    builder = create(trt, "Builder", logger)  # nullptr (TensorRT cannot start CUDA) -> DeviceError
    network, _parser = _parse(trt, builder, Path(onnx_path), logger)  # the parser must outlive the build
    config = builder.create_builder_config()
    if cfg.workspace_mib is not None:  # [V4]
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_mib) << 20)
    flags = precision_flags(trt, cfg.precision)
    for name in flags:  # [V2]/[V3]
        if name.startswith("-"):
            config.clear_flag(getattr(trt.BuilderFlag, name[1:]))
        else:
            config.set_flag(getattr(trt.BuilderFlag, name))
    fp32_layers: list[str] = []
    if cfg.precision == "fp16" and trt_major(trt) < 11:  # 11 is strongly typed: the ONNX's Casts already say it
        import onnx

        from edgesr.export.fp16 import kept_fp32, pin_fp32_layers

        kept = kept_fp32(onnx.load(str(onnx_path), load_external_data=False))
        fp32_layers = pin_fp32_layers(trt, network, config, kept)
    verbosity = getattr(trt, "ProfilingVerbosity", None)
    if verbosity is not None and hasattr(verbosity, "DETAILED"):  # [V9]
        config.profiling_verbosity = verbosity.DETAILED
    p = cfg.profile
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, (1, 3, *p.min), (1, 3, *p.opt), (p.max_batch, 3, *p.max))
    if config.add_optimization_profile(profile) < 0:
        raise UsageError(f"TensorRT refused the shape profile {p.describe()}: {logger.last()}")
    if cfg.dla_core is not None:  # [V6]
        cores = int(getattr(builder, "num_DLA_cores", 0))
        if cfg.dla_core >= cores:
            raise DeviceError(f"--dla-core {cfg.dla_core}: this device has {cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(cfg.dla_core)
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        device["dla_core"] = int(cfg.dla_core)
    cache_file = cfg.timing_cache or timing_cache_path(trt.__version__, device)  # [V5]
    try:
        cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
        usable = cache is not None and config.set_timing_cache(cache, False)
    except Exception:  # a corrupt cache file: start a fresh one
        usable = False
    if not usable:
        notes.append(f"timing cache {cache_file} did not match this TensorRT/GPU: started a new one")
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    start = time.monotonic()
    logger.clear()
    plan = builder.build_serialized_network(network, config)  # [V7]
    if plan is None:
        why = " ".join(logger.last().split())[:300]
        raise EdgeSRError(f"TensorRT {trt.__version__} failed to build the engine: {why}")
    seconds = time.monotonic() - start
    out_path = Path(out)
    out_path.write_bytes(bytes(memoryview(plan)))
    try:
        _save_timing_cache(config, cache_file)
    except (OSError, EdgeSRError) as exc:  # a read-only path or a full disk costs the next build time, not this engine
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warnings.append(f"timing cache not saved to {cache_file} ({why}): the next build will retune")
    return {
        "tensorrt_version": str(trt.__version__),
        "device": device,
        "flags": flags,
        "strongly_typed": trt_major(trt) >= 11,
        "workspace_mib": cfg.workspace_mib,
        "timing_cache": str(cache_file),
        "build_seconds": round(seconds, 1),
        **({"fp32_layers": fp32_layers} if fp32_layers else {}),
        "notes": notes,
        "warnings": warnings,
    }


def _save_timing_cache(config: Any, path: Path) -> None:
    serialized = config.get_timing_cache().serialize()
    from edgesr.artifact import atomic_write

    with atomic_write(path, "TensorRT timing cache") as tmp:
        tmp.write_bytes(bytes(memoryview(serialized)))

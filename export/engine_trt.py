"""``--backend tensorrt``: parse the verified ONNX and build a serialized plan.

Written against the TensorRT Python API of 8.5, 8.6 (JetPack 6.0), 10.x (JetPack 6.1/6.2 = 10.3,
desktop up to 10.16) and 11.x (binding sources pyCore.cpp / NvInfer.h per release branch; the
per-version table is in docs/tensorrt.md). Version switches, each feature-detected with ``hasattr``
and named here:

- [V1] 8.x: ``create_network`` needs ``EXPLICIT_BATCH`` (flags=0 is implicit batch, which the
  ONNX parser refuses). 10.x: always explicit, the flag is deprecated and ignored. 11.x: the
  member is gone (AttributeError). Never hard-code flag integers: they are renumbered.
- [V2] Precision (the flags come from the precision table, ``edgesr.precisions``). TensorRT <= 10
  (weakly typed; we do not set ``STRONGLY_TYPED`` on 10.x): fp16 = the FP16 ONNX + ``BuilderFlag.FP16``;
  int8 = the Q/DQ ONNX + ``BuilderFlag.INT8`` (required for Q/DQ on weakly typed builds) + ``FP16``
  (layers outside Q/DQ may use FP16). TensorRT 11 (always strongly typed): the flags no longer exist;
  the FP16 ONNX or the Q/DQ ONNX carries the precision and no flag is set. We never skip a missing
  flag silently: the precision always comes from the ONNX we parse, so 11.x cannot quietly build FP32.
- [V2b] INT8 on TensorRT 11: a strongly typed Q/DQ graph runs every layer outside Q/DQ in the ONNX's
  type, FP32 for our Q/DQ ONNX (8.x/10.x: FP16 through the FP16 flag). So the builder rewrites the
  Q/DQ ONNX with its float layers in FP16 first (``export.int8_fp16``: opset 19, FP16 Q/DQ scales,
  FP32 I/O), and the sidecar records what the layers run in (``float_layers`` and, from the engine
  inspector, ``layers``: the count per precision).
- [V3] fp32: ``BuilderFlag.TF32`` is cleared where it exists (TensorRT enables TF32 by
  default on Ampere+; an "fp32" engine should be FP32).
- [V4] ``set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)`` (8.3+; ``max_workspace_size``
  is gone in 10.0).
- [V5] Timing cache: ``create_timing_cache(bytes)`` + ``set_timing_cache(cache, False)`` in
  all versions; the file is keyed by TensorRT version + GPU name + compute capability.
- [V6] DLA: ``default_device_type = DeviceType.DLA``, ``DLA_core``, ``GPU_FALLBACK``; DLA needs
  FP16/INT8 and static shapes ("DLA does not support dynamic dimensions"), so min = opt = max is
  required. TensorRT 11 has DLA only from 11.4.1 on JetPack 7.2.2+; ``num_DLA_cores`` says. GPU
  fallback is silent in TensorRT: the engine inspector's layers say which run on the DLA and which
  on the GPU; the sidecar records both counts and the build warns when any layer fell back (or when
  this TensorRT cannot say).
- [V7] ``build_serialized_network`` (``build_engine`` is gone in 10.0); None = failure, the
  reason is only in the logger, which we collect (cleared before the parse and the build).
- [V8] TensorRT 11 is strongly typed: the precision is the ONNX's. A build whose requested
  precision is not the ONNX's ``edgesr.precision`` metadata is refused, so an FP16 request can
  never quietly produce an FP32 engine.
- [V9] ``config.profiling_verbosity = ProfilingVerbosity.DETAILED`` (8.2+, hasattr-guarded): the
  plan records each layer's precision, so ``engine.create_engine_inspector()`` (and polygraphy /
  trex) can show what TensorRT really chose; no effect on speed. The builder reads it back
  (``export.trt_layers``) into the sidecar.
- [V10] TensorRT's warnings (the one logger keeps them, deduplicated with counts) are returned with
  the build (``EngineBuild.messages``) and shown by ``build-engine`` as it builds.

Failures that are the machine's, not the model's (TensorRT < 8.5, a nullptr ``trt.Builder`` when
TensorRT cannot start CUDA, pycuda errors) are one-line ``DeviceError``s/``MissingDependencyError``s
(``edgesr.runtime.trt_common``). A timing cache that cannot be written is a warning: the engine is kept.

Polygraphy (installed with the dev extras) wraps the same calls; we call TensorRT directly
to keep the Jetson install small and each version switch visible here, and recommend
``polygraphy inspect model model.engine`` / ``polygraphy run`` for cross-checks.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from edgesr.artifact import INPUT_NAME
from edgesr.backends import EngineBuild, EngineRequest
from edgesr.errors import (
    DeviceError,
    EdgeSRError,
    IncompatibleArtifactError,
    UsageError,
)
from edgesr.precisions import precision as precision_entry
from edgesr.samples import cache_dir

WHY = "needed for --backend tensorrt: JetPack 6 ships it; or use --backend onnxruntime"


def import_tensorrt() -> Any:
    """``tensorrt``, refused in one line if missing or older than 8.5 (checked once per process)."""
    from edgesr.runtime.trt_common import import_tensorrt as _import

    return _import(WHY)


def trt_major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


def strongly_typed(trt: Any) -> bool:
    """TensorRT 11 is always strongly typed; 8.x/10.x builds are weakly typed here (no STRONGLY_TYPED flag)."""
    return trt_major(trt) >= 11


def gpu_device() -> dict[str, Any]:
    """GPU 0 as the sidecar records it (``edgesr.machine.gpu_facts``, the runtime's own probe): name, compute
    capability, SM count, Jetson module."""
    from edgesr.runtime.trt_common import open_gpu

    return open_gpu(WHY)[1].sidecar()


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
    """[V2]/[V3] Builder flags to set (``-TF32`` = clear) for ``precision`` on this TensorRT, from the precision
    table. A flag to clear that this TensorRT lacks is skipped; a flag to set that it lacks is an error."""
    entry = precision_entry(precision)
    wanted = entry.trt_strong_flags if strongly_typed(trt) else entry.trt_weak_flags
    flags = [f for f in wanted if not f.startswith("-") or hasattr(trt.BuilderFlag, f[1:])]
    missing = [f for f in flags if not f.startswith("-") and not hasattr(trt.BuilderFlag, f)]
    if missing:
        raise IncompatibleArtifactError(f"TensorRT {trt.__version__} has no BuilderFlag {missing}")
    return flags


def float_layers(trt: Any, precision: str) -> str:
    """What the layers outside Q/DQ (INT8) or all layers (FP16/FP32) are asked to run in, in words."""
    if precision == "fp32":
        return "fp32"
    if strongly_typed(trt):
        return "fp16 (the ONNX's types: strongly typed)"
    return "fp16 where TensorRT finds it faster, else fp32 (FP16 builder flag)"


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


def build(variant_onnx: Path, out: Path, request: EngineRequest) -> EngineBuild:
    """The tensorrt backend's builder: ``out`` from the precision's ONNX, with the device/build facts."""
    trt = import_tensorrt()
    onnx_path = Path(variant_onnx)
    check_onnx_precision(trt, onnx_path, request.precision)  # [V8], before any GPU work
    with tempfile.TemporaryDirectory(prefix="edgesr-trt-") as work:
        if request.precision == "int8" and strongly_typed(trt):  # [V2b]
            from edgesr.export.int8_fp16 import float_layers_fp16

            onnx_path = float_layers_fp16(onnx_path, Path(work) / "int8.fp16.onnx")
        return _build(trt, onnx_path, Path(out), request)


def _build(trt: Any, onnx_path: Path, out: Path, cfg: EngineRequest) -> EngineBuild:
    from edgesr.export.trt_layers import dla_warning, layer_summary
    from edgesr.runtime.trt_common import create, trt_logger  # one logger per process, shared with the runner

    logger = trt_logger(trt)
    logger.take_warnings()  # from here on, TensorRT's warnings are this build's
    device = gpu_device()
    notes: list[str] = []
    warnings: list[str] = []
    builder = create(trt, "Builder", logger)  # nullptr (TensorRT cannot start CUDA) -> DeviceError
    network, _parser = _parse(trt, builder, onnx_path, logger)  # the parser must outlive the build
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
    c = input_channels(onnx_path)  # 3 (RGB), or 1 for a gray imported model (the runner feeds it one plane at a time)
    profile = builder.create_optimization_profile()
    # batch: min 1, opt = max = --max-batch (a multi-stream run fills it; one stream runs batch 1)
    profile.set_shape(INPUT_NAME, (1, c, *p.min), (p.max_batch, c, *p.opt), (p.max_batch, c, *p.max))
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
    out.write_bytes(bytes(memoryview(plan)))
    try:
        _save_timing_cache(config, cache_file)
    except (OSError, EdgeSRError) as exc:  # a read-only path or a full disk costs the next build time, not this engine
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warnings.append(f"timing cache not saved to {cache_file} ({why}): the next build will retune")
    layers = layer_summary(trt, out.read_bytes(), logger, cfg.dla_core)  # [V9], None where this TensorRT cannot say
    dla = dla_warning(cfg.dla_core, layers)
    if dla:
        warnings.append(dla)
    facts = {
        "tensorrt_version": str(trt.__version__),
        "device": device,
        "flags": flags,
        "strongly_typed": strongly_typed(trt),
        "float_layers": float_layers(trt, cfg.precision),
        "layers": layers,
        "version_compatible": False,
        "hardware_compatibility": "none",
        "workspace_mib": cfg.workspace_mib,
        "timing_cache": str(cache_file),
        "build_seconds": round(seconds, 1),
        **({"fp32_layers": fp32_layers} if fp32_layers else {}),
        "notes": notes,
        "warnings": warnings,
    }
    return EngineBuild(str(trt.__version__), device, facts, tuple(logger.take_warnings()))


def input_channels(onnx_path: Path) -> int:
    """The model's input channels, from the spec in the ONNX's metadata (edgesr writes it on every file it builds)."""
    import onnx

    from edgesr.artifact import read_onnx_metadata

    meta = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    return int(read_onnx_metadata(meta, onnx_path.name).spec.in_channels)


def _save_timing_cache(config: Any, path: Path) -> None:
    serialized = config.get_timing_cache().serialize()
    from edgesr.artifact import atomic_write

    with atomic_write(path, "TensorRT timing cache") as tmp:
        tmp.write_bytes(bytes(memoryview(serialized)))

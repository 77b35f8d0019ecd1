"""The engine backends: ONE table, the one place a new backend goes.

Each ``Backend`` declares its name, the suffix of the artifacts it writes, the precisions it builds, its builder
(one signature: ``build(variant_onnx, out, EngineRequest) -> EngineBuild``), its runner class, an availability
check that says why not, and its version. ``open_runner`` (runtime), ``build_engine`` (export), ``bench``,
``demo`` and ``info`` all read this table; ``default_backend()`` is decided here and nowhere else.

This module is core: it imports no stage at module level. Builders, runners and checks are named by small
functions that import their stage module when called (no registration by import side effects); the import
rules (tests/test_import_rules.py) allow that here and in ``edgesr.precisions`` only.

Adding a backend (e.g. ``triton``: a remote Triton server, a runner over ``tritonclient``) = one entry in
``TABLE`` + its runner module in ``runtime/`` (+ a builder module in ``export/`` if it builds anything).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgesr.errors import EdgeSRError, UsageError
from edgesr.precisions import PRECISIONS

if TYPE_CHECKING:  # edgesr.artifact reads this table (sidecar backends): no import cycle at run time
    from edgesr.artifact import ShapeProfile


@dataclass(frozen=True)
class EngineRequest:
    """What every builder is asked: the precision, the input shape range and the backend's options
    (refused when made if they conflict, before any work)."""

    precision: str
    profile: ShapeProfile
    workspace_mib: int | None = 1024  # TensorRT builder workspace
    timing_cache: Path | None = None  # TensorRT timing cache; None = keyed file under the edgesr cache
    dla_core: int | None = None  # TensorRT: build for this DLA core (GPU fallback on)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r} (known: {', '.join(PRECISIONS)})")
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


@dataclass(frozen=True)
class EngineBuild:
    """What every builder returns."""

    backend_version: str
    device: dict[str, Any]  # -> sidecar ``device``: what the engine is tied to
    facts: dict[str, Any]  # -> sidecar ``build["engine"]``: how it was built (flags, layers, edgesr's warnings)
    messages: tuple[str, ...] = field(default=())  # the backend's own warnings during the build, deduplicated


class Builder(Protocol):
    def __call__(self, variant_onnx: Path, out: Path, request: EngineRequest) -> EngineBuild: ...


@dataclass(frozen=True)
class Backend:
    name: str
    suffix: str  # of the artifacts it writes: <model>.<precision><suffix>
    summary: str
    precisions: tuple[str, ...]  # what it builds
    runs_as: str  # the backend whose runner opens its artifacts (the sidecar's ``backend``)
    builder: Callable[[], Builder] | None  # lazy; None: builds nothing
    runner: Callable[[], Any] | None  # lazy: the Runner class, called (path, sidecar=, providers=, threads=)
    require: Callable[[], Callable[[], None]]  # lazy: raises a one-line EdgeSRError where it cannot run here
    version: Callable[[], str | None]
    supported: str  # the versions edgesr supports, in words
    #: a remote backend is opened by address (``--engine SCHEME://HOST:PORT/MODEL``), not by a local artifact; its
    #: runner is called (address, providers=, threads=, reconnect_s=)
    schemes: tuple[str, ...] = ()

    def probe(self) -> str | None:
        """None where this backend can be used here, else why not (one line)."""
        try:
            self.require()()
        except EdgeSRError as exc:
            return str(exc)
        return None


def _module_version(module: str) -> Callable[[], str | None]:
    def version() -> str | None:
        try:
            return str(importlib.import_module(module).__version__)
        except Exception:  # missing or broken: the probe says why
            return None

    return version


# -- the stage code each entry names, imported only when called (this module is core) ----------------------------
def _trt_builder() -> Builder:
    from edgesr.export.engine_trt import build

    return build


def _trt_runner() -> Any:
    from edgesr.runtime.trt_runner import TensorRTRunner

    return TensorRTRunner


def _trt_require() -> Callable[[], None]:
    from edgesr.runtime.trt_support import require_usable

    return require_usable


def _ort_builder() -> Builder:
    from edgesr.export.engine_ort import build

    return build


def _portable_builder() -> Builder:
    from edgesr.export.engine_ort import build_portable

    return build_portable


def _ort_runner() -> Any:
    from edgesr.runtime.ort_runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner


def _ort_require() -> Callable[[], None]:
    from edgesr.runtime.ort_runner import require_usable

    return require_usable


def _triton_runner() -> Any:
    from edgesr.runtime.triton_runner import TritonRunner

    return TritonRunner


def _triton_require() -> Callable[[], None]:
    from edgesr.runtime.triton_runner import require_client

    return require_client


TABLE: tuple[Backend, ...] = (
    Backend(
        name="onnxruntime",
        suffix=".ort.onnx",
        summary="ONNX optimised offline by ONNX Runtime (CPU, CUDA or TensorRT execution provider)",
        precisions=PRECISIONS,
        runs_as="onnxruntime",
        builder=_ort_builder,
        runner=_ort_runner,
        require=_ort_require,
        version=_module_version("onnxruntime"),
        supported="ONNX Runtime >= 1.16",
    ),
    Backend(
        name="tensorrt",
        suffix=".engine",
        summary="TensorRT plan for this GPU/Jetson (pycuda runner, two frames in flight)",
        precisions=PRECISIONS,
        runs_as="tensorrt",
        builder=_trt_builder,
        runner=_trt_runner,
        require=_trt_require,
        version=_module_version("tensorrt"),
        supported="TensorRT 8.5 to 11.x with Python >= 3.10 and pycuda: JetPack 6 (L4T R36; TensorRT 8.6.2 or "
        "10.3) or a desktop NVIDIA GPU; JetPack 5 (L4T R35) is not supported (its TensorRT bindings are for "
        "Python 3.8)",
    ),
    Backend(
        name="onnx",
        suffix=".qdq.onnx",
        summary="portable INT8 Q/DQ ONNX in TensorRT form (build it on the device with --backend tensorrt)",
        precisions=("int8",),
        runs_as="onnxruntime",
        builder=_portable_builder,
        runner=None,
        require=_ort_require,
        version=_module_version("onnxruntime"),
        supported="any ONNX runtime; verified with ONNX Runtime >= 1.16",
    ),
    Backend(
        name="triton",
        suffix="",
        summary="a model on a Triton Inference Server (tritonclient gRPC/HTTP; repositories from --triton-repo)",
        precisions=PRECISIONS,
        runs_as="triton",
        builder=None,
        runner=_triton_runner,
        require=_triton_require,
        version=_module_version("tritonclient"),
        supported="Triton Inference Server 2.x (tritonclient >= 2.40); edgesr serve: nvidia-pytriton 0.5 to 0.7",
        schemes=("triton", "triton+grpc", "triton+http"),
    ),
)

BACKENDS: tuple[str, ...] = tuple(b.name for b in TABLE)
PLAIN_ONNX = "onnxruntime"  # the backend that opens a bare edgesr ONNX (no sidecar)


def backend(name: str) -> Backend:
    """The table entry; an unknown name is a ``UsageError`` listing the known ones."""
    for b in TABLE:
        if b.name == name:
            return b
    names = [b.name for b in TABLE]
    raise UsageError(f"--backend must be {', '.join(names[:-1])} or {names[-1]}, got {name!r}")


def known(name: str) -> bool:
    return any(b.name == name for b in TABLE)


def runnable() -> tuple[Backend, ...]:
    """The local backends with a runner of their own (what ``bench`` measures and a sidecar may name)."""
    return tuple(b for b in TABLE if b.runner is not None and not b.schemes)


def remote(address: object) -> Backend | None:
    """The remote backend whose scheme ``address`` has (a str: a Path folds ``//``), or None."""
    if not isinstance(address, str) or "://" not in address:
        return None
    scheme = address.split("://", 1)[0].lower()
    return next((b for b in TABLE if scheme in b.schemes), None)


def default_backend() -> str:
    """TensorRT where it imports, is a supported version and sees a GPU; else ONNX Runtime."""
    return "tensorrt" if backend("tensorrt").probe() is None else "onnxruntime"

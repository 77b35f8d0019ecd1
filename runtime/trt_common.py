"""TensorRT + pycuda plumbing shared by the builder (``edgesr.export.engine_trt``) and the runner.

- ``import_tensorrt``: the import and the version floor (8.5, the first release with the name-based
  I/O API the runner uses; JetPack 5.0.x ships 8.4), checked once per process, one line.
- ``trt_logger``: the one logger of the process ("the library pointer to the logger is a singleton",
  TensorRT best practices). It keeps the last errors so a None from TensorRT can be explained, and is
  ``clear()``-ed before each parse, build and deserialise so a message is never a stale one. It also keeps
  TensorRT's warnings, deduplicated with a count, which the builder takes and shows (``take_warnings``).
- ``numpy_dtype``: TensorRT I/O type -> numpy, without ``trt.nptype`` (broken on TensorRT 8.5 + numpy >= 1.24).
- ``create``: ``trt.Builder(logger)`` / ``trt.Runtime(logger)``. When TensorRT cannot start CUDA (a driver
  older than TensorRT's CUDA: CUDA error 35; or a missing builder library) the pybind11 factory returns
  nullptr and Python sees ``TypeError: pybind11::init(): factory function returned nullptr``: mapped to a
  ``DeviceError`` with the logger's last message and the likely cause.
- ``cuda_errors``: pycuda's ``driver.Error`` family (``MemoryError``, ``LogicError``, ``LaunchError``...) ->
  ``DeviceError`` naming what was attempted (with the sizes involved).
- ``primary_context``: pycuda's ``autoprimaryctx`` pattern (``pycuda/autoprimaryctx.py``): the device's
  primary context, the one the CUDA runtime and so TensorRT use, retained once per process and pushed /
  popped around every use. It is never ``detach()``-ed: for a primary context pycuda's ``detach`` pushes it
  when it is not current and then only releases it (``cuDevicePrimaryCtxRelease`` does not pop), leaving an
  entry on the driver's context stack every time (pycuda ``src/cpp/cuda.hpp``, ``primary_context``).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgesr.errors import DeviceError, MissingDependencyError, require
from edgesr.machine import GpuFacts, gpu_facts

MIN_TENSORRT = (8, 5)
MAX_WARNINGS = 50  # distinct TensorRT warnings kept per build (repeats are counted, not stored)
_LOGGER: Any = None
_CHECKED: set[str] = set()
_PRIMARY: dict[int, Any] = {}
_LOCK = threading.Lock()


def import_tensorrt(why: str) -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependencyError("tensorrt", "trt", why) from None
    check_version(trt)
    return trt


def check_version(trt: Any) -> None:
    """Refuse TensorRT < 8.5 once, at import, before anything is built or loaded."""
    from edgesr.runtime.trt_compat import parse_version

    version = str(getattr(trt, "__version__", "unknown"))
    if version in _CHECKED:
        return
    if parse_version(version)[:2] < MIN_TENSORRT:
        raise MissingDependencyError(
            "TensorRT 8.5 or newer",
            "trt",
            f"found TensorRT {version}; JetPack 5.0.x ships 8.4: upgrade to JetPack 5.1 or newer",
        )
    _CHECKED.add(version)


def trt_logger(trt: Any) -> Any:
    global _LOGGER
    with _LOCK:
        if _LOGGER is None:

            class KeepErrors(trt.ILogger):  # type: ignore[misc,name-defined]
                def __init__(self) -> None:
                    trt.ILogger.__init__(self)
                    self.errors: list[str] = []
                    self.warned: dict[str, int] = {}  # warning -> times said, since take_warnings()

                def log(self, severity: Any, msg: str) -> None:
                    text = " ".join(str(msg).split())
                    if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                        self.errors = (self.errors + [text])[-5:]
                    elif severity == trt.ILogger.Severity.WARNING and len(self.warned) < MAX_WARNINGS:
                        self.warned[text] = self.warned.get(text, 0) + 1
                    elif severity == trt.ILogger.Severity.WARNING and text in self.warned:
                        self.warned[text] += 1

                def take_warnings(self) -> list[str]:
                    """TensorRT's warnings since the last call, each once (with how often it was said)."""
                    said, self.warned = self.warned, {}
                    return dedupe(said)

                def clear(self) -> None:
                    self.errors = []

                def last(self) -> str:
                    return self.errors[-1] if self.errors else "no message from TensorRT"

            _LOGGER = KeepErrors()
    return _LOGGER


def dedupe(said: dict[str, int]) -> list[str]:
    """{'msg': 3} -> ['msg (3 times)']: one line per distinct warning, in the order first said."""
    return [f"{msg} ({n} times)" if n > 1 else msg for msg, n in said.items()]


#: TensorRT's type -> numpy, by ``trt.DataType`` member name. ``trt.nptype`` is not used: TensorRT 8.5's builds its
#: table with ``np.bool``, which numpy 1.24-1.26 do not have (AttributeError on every call, whatever the type).
NUMPY_TYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
               "UINT8": np.uint8, "INT64": np.int64}


def numpy_dtype(trt: Any, dtype: Any) -> np.dtype | None:
    """The numpy dtype of a TensorRT I/O type; None for types numpy lacks (BF16, FP8, INT4, FP4)."""
    for name, np_type in NUMPY_TYPES.items():
        member = getattr(trt.DataType, name, None)
        if member is not None and member == dtype:
            return np.dtype(np_type)
    return None


def _likely_cause(factory: str, said: str) -> str:
    text = said.lower()
    driver = (
        "the NVIDIA driver is older than the CUDA this TensorRT was built for (CUDA error 35): update the driver "
        "(on Jetson: the JetPack that matches this TensorRT)"
    )
    library = "a TensorRT builder library (libnvinfer_builder_resource) is missing: reinstall TensorRT"
    if "35" in text or "insufficient" in text or "driver" in text:
        return driver
    if "library" in text or "builder_resource" in text or ".so" in text:
        return library
    if factory == "Builder":
        return f"{driver}; or {library}"
    return f"{driver}; or no usable GPU (check nvidia-smi / tegrastats)"


def create(trt: Any, factory: str, logger: Any) -> Any:
    """``trt.Builder(logger)`` or ``trt.Runtime(logger)``; nullptr -> one-line ``DeviceError``."""
    logger.clear()
    try:
        return getattr(trt, factory)(logger)
    except TypeError as exc:
        if "nullptr" not in str(exc):
            raise
        said = logger.last()
        raise DeviceError(
            f"TensorRT {trt.__version__} could not create its {factory} (TensorRT said: {said[:300]}); likely cause: "
            f"{_likely_cause(factory, said)}"
        ) from None


def mib(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.1f} MiB" if nbytes >= 1 << 20 else f"{nbytes / 1024:.0f} KiB"


@contextlib.contextmanager
def cuda_errors(cuda: Any, what: str, memory: bool = False) -> Iterator[None]:
    """pycuda's ``driver.Error`` family -> ``DeviceError("CUDA <what> failed: ...")``. With ``memory``,
    the GPU's free/total memory is added (the context must be current)."""
    try:
        yield
    except cuda.Error as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        extra = ""
        if memory:
            with contextlib.suppress(Exception):
                free, total = cuda.mem_get_info()
                extra = f"; the GPU has {mib(free)} free of {mib(total)}"
            extra += ": build the engine with a smaller --max-shape / --max-batch, or close other GPU programs"
        raise DeviceError(f"CUDA {what} failed ({type(exc).__name__}: {detail}){extra}") from None


def open_gpu(why: str) -> tuple[Any, GpuFacts]:
    """pycuda's driver, initialised, and GPU 0's facts (``edgesr.machine.gpu_facts``): what the builder, the runner
    and the backend check all start from. A missing pycuda, driver or GPU is one line."""
    cuda = require("pycuda.driver", extra="trt", why=why)
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as exc:
        raise DeviceError(f"no usable CUDA driver/GPU: {' '.join(str(exc).split())}") from None
    if count < 1:
        raise DeviceError("no CUDA GPU found: TensorRT engines are built and run on an NVIDIA GPU")
    with cuda_errors(cuda, "reading GPU 0's name, compute capability and SM count"):
        facts = gpu_facts(cuda, 0)
    assert facts is not None  # with pycuda given, gpu_facts reads the device or raises
    return cuda, facts


def primary_context(cuda: Any, index: int = 0) -> Any:
    """Device ``index``'s primary context, retained once per process (``autoprimaryctx``), not current."""
    with _LOCK:
        ctx = _PRIMARY.get(index)
        if ctx is None:
            with cuda_errors(cuda, f"retaining the primary context of GPU {index}"):
                ctx = cuda.Device(index).retain_primary_context()
            if not _PRIMARY:
                atexit.register(_drop_primary)
            _PRIMARY[index] = ctx
        return ctx


def _drop_primary() -> None:
    """At exit, while CUDA is still up (``autoprimaryctx``'s ``_finish_up``): nothing is current by then,
    every push having been popped."""
    with contextlib.suppress(Exception):
        _PRIMARY.clear()

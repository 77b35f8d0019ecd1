"""One runner contract for every backend (in the spirit of Polygraphy's runners).

    with open_runner("model.engine") as r:
        y = r.infer(x)          # x: NCHW float32 RGB in [0, 1]; y: NCHW float32

``open_runner`` reads the artifact's self-description first (the engine sidecar, or
the ONNX metadata) and refuses a mismatch before any inference happens.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from types import TracebackType

import numpy as np

from edgesr.artifact import ShapeProfile, read_sidecar, sidecar_path
from edgesr.errors import BadInputError, IncompatibleArtifactError, UsageError
from edgesr.runtime.size_rule import run_with_rule
from edgesr.spec import ModelSpec


class Runner(abc.ABC):
    """A loaded model that maps NCHW float32 batches to NCHW float32 batches."""

    backend: str
    precision: str
    spec: ModelSpec
    profile: ShapeProfile | None  # None: any spatial size (a plain ONNX)
    path: Path

    @property
    def input_shape_range(self) -> str:
        return self.profile.describe() if self.profile else "any HxW"

    def check_input(self, x: np.ndarray) -> None:
        """Shape and dtype check; the error names what the artifact accepts."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise BadInputError(f"{self.path.name} takes float32 NCHW input, got {got}")
        if x.ndim != 4 or x.shape[1] not in (self.spec.in_channels, 3):  # 3: RGB through a gray model
            raise BadInputError(
                f"{self.path.name} takes NCHW input with {self.spec.in_channels} channels, got shape {x.shape}"
            )
        n, _, h, w = x.shape
        if self.profile is not None:
            if not self.profile.accepts(h, w):
                raise BadInputError(
                    f"frame {h}x{w} is outside what {self.path.name} accepts: {self.profile.describe()} "
                    "(rebuild the engine with other --min-shape/--max-shape, or use --tile)"
                )
            if n > self.profile.max_batch:
                raise BadInputError(f"batch {n} exceeds the engine's max batch {self.profile.max_batch}")

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x)
        y = run_with_rule(self._infer, x, self.spec)  # the model's size rule (multiples of N): pad, run, crop
        self.check_output(x, y)
        return y

    def check_output(self, x: np.ndarray, y: np.ndarray) -> None:
        """The engine's real output must be what its spec (sidecar/metadata) says: a hand-edited sidecar
        cannot mislabel a x2 engine as x4."""
        n, _, h, w = x.shape
        s = self.spec.scale
        want = (n, self.spec.channels_out if x.shape[1] == self.spec.in_channels else 3, h * s, w * s)
        if tuple(y.shape) != want:
            raise IncompatibleArtifactError(
                f"{self.path.name} produced output {tuple(y.shape)} for input {tuple(x.shape)}, but its spec "
                f"({self.spec.describe()}) says {want}: the sidecar or metadata does not describe this engine"
            )

    #: how many ``submit`` calls may be outstanding before ``result`` must be called (2 = double buffering)
    max_in_flight: int = 1

    def submit(self, x: np.ndarray) -> object:
        """Start inference of ``x`` and return a ticket for ``result``. Backends that can keep frames in
        flight (TensorRT: async copies + ``execute_async_v3``) return before the work is done; the default
        computes here. Tickets must be redeemed in submission order, at most ``max_in_flight`` outstanding."""
        return self.infer(x)

    def result(self, ticket: object) -> np.ndarray:
        """The output of a ``submit``, waiting for it if needed."""
        assert isinstance(ticket, np.ndarray)
        return ticket

    @abc.abstractmethod
    def _infer(self, x: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.backend} {self.precision} {self.spec.describe()} [{self.path.name}]"


def open_runner(
    path: str | os.PathLike[str],
    *,
    providers: list[str] | None = None,
    threads: int | None = None,
    expect_scale: int | None = None,
) -> Runner:
    """Open an engine (with its sidecar) or a plain edgesr ONNX file.

    ``expect_scale`` refuses a model of another scale up front (e.g. a pipeline set up
    for x4 given an x2 engine).
    """
    p = Path(path)
    if not p.exists():
        raise BadInputError(f"model not found: {p}")
    if p.is_dir():
        raise BadInputError(f"expected an engine or ONNX file, got a folder: {p}")
    runner: Runner
    if sidecar_path(p).exists():
        sc = read_sidecar(p)
        if sc.backend == "tensorrt":
            from edgesr.runtime.trt_runner import TensorRTRunner

            if providers:
                raise UsageError("--providers applies to ONNX Runtime; this is a TensorRT engine")
            runner = TensorRTRunner(p, sc)
        else:
            from edgesr.runtime.ort_runner import OnnxRuntimeRunner

            runner = OnnxRuntimeRunner(p, sidecar=sc, providers=providers, threads=threads)
    elif p.suffix.lower() == ".onnx":
        from edgesr.runtime.ort_runner import OnnxRuntimeRunner

        runner = OnnxRuntimeRunner(p, sidecar=None, providers=providers, threads=threads)
    else:
        raise IncompatibleArtifactError(
            f"{p} is neither an ONNX file nor an engine with a sidecar ({sidecar_path(p).name} is missing)"
        )
    if expect_scale is not None and runner.spec.scale != expect_scale:
        runner.close()
        raise IncompatibleArtifactError(
            f"{p.name} is a x{runner.spec.scale} model, but x{expect_scale} was asked for"
        )
    return runner

"""One runner contract for every backend (in the spirit of Polygraphy's runners).

    with open_runner("model.engine") as r:
        y = r.infer(x)          # x: NCHW float32 RGB in [0, 1]; y: NCHW float32

``open_runner`` reads the artifact's self-description first (the engine sidecar, or
the ONNX metadata) and refuses a mismatch before any inference happens. The runner class
is the sidecar backend's entry in the one backend table (``edgesr.backends``).
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from types import TracebackType

import numpy as np

from edgesr.artifact import ShapeProfile, Sidecar, read_sidecar, sidecar_path
from edgesr.backends import PLAIN_ONNX, backend, remote
from edgesr.errors import BadInputError, IncompatibleArtifactError
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
        if self.profile is not None and self.spec.fixed_tile is None:  # a fixed tile: frames are tiled through it
            if not self.profile.accepts(h, w):
                raise BadInputError(
                    f"frame {h}x{w} is outside what {self.path.name} accepts: {self.profile.describe()} "
                    "(rebuild the engine with other --min-shape/--max-shape, or use --tile)"
                )
        if self.max_batch is not None and n > self.max_batch:
            raise BadInputError(f"batch {n} exceeds {self.path.name}'s max batch {self.max_batch}")

    @property
    def max_batch(self) -> int | None:
        """The largest batch one ``infer`` takes (None: any)."""
        return self.profile.max_batch if self.profile is not None else None

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

    #: how many ``infer`` calls may run at once from different threads; the multi-stream batcher splits a
    #: batch across them (1: one call at a time, e.g. one TensorRT execution context)
    concurrent_calls: int = 1

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

    @property
    def location(self) -> str:
        """Where the model is: its file, or a server address."""
        return str(self.path)

    def describe(self) -> str:
        return f"{self.backend} {self.precision} {self.spec.describe()} [{self.path.name}]"


def open_runner(
    path: str | os.PathLike[str],
    *,
    providers: list[str] | None = None,
    threads: int | None = None,
    expect_scale: int | None = None,
    reconnect_s: float = 10.0,
) -> Runner:
    """Open an engine (with its sidecar), a plain edgesr ONNX file, or a Triton model
    (``triton://HOST:PORT/MODEL[/VERSION]``).

    ``expect_scale`` refuses a model of another scale up front (e.g. a pipeline set up
    for x4 given an x2 engine). ``reconnect_s``: how long a Triton server that went away is retried.
    """
    far = remote(path)
    if far is not None and far.runner is not None:
        far.require()()
        runner: Runner = far.runner()(str(path), providers=providers, threads=threads, reconnect_s=reconnect_s)
        return _expect(runner, expect_scale, str(path))
    p = Path(path)
    if not p.exists():
        raise BadInputError(f"model not found: {p}")
    if p.is_dir():
        raise BadInputError(f"expected an engine or ONNX file, got a folder: {p}")
    sc: Sidecar | None = None
    if sidecar_path(p).exists():
        sc = read_sidecar(p)
        entry = backend(sc.backend)
    elif p.suffix.lower() == ".onnx":
        entry = backend(PLAIN_ONNX)
    else:
        raise IncompatibleArtifactError(
            f"{p} is neither an ONNX file nor an engine with a sidecar ({sidecar_path(p).name} is missing)"
        )
    if entry.runner is None:
        raise IncompatibleArtifactError(f"{p.name}: {entry.name} artifacts are opened by {entry.runs_as}")
    return _expect(entry.runner()(p, sidecar=sc, providers=providers, threads=threads), expect_scale, p.name)


def _expect(runner: Runner, scale: int | None, name: str) -> Runner:
    if scale is not None and runner.spec.scale != scale:
        runner.close()
        raise IncompatibleArtifactError(f"{name} is a x{runner.spec.scale} model, but x{scale} was asked for")
    return runner

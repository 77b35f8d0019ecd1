"""``edgesr serve``: host an edgesr engine as a Triton Inference Server model, through NVIDIA's PyTriton.

PyTriton bundles a Triton server with its Python backend; the model it serves here is this process's own
runner (ONNX Runtime or TensorRT, ``open_runner``), behind Triton's gRPC and HTTP endpoints and its dynamic
batcher: requests of the same shape from several clients are joined into one ``Runner.infer`` call of up to
``max_batch`` frames. The model config carries the edgesr spec and precision as parameters, so a client's
``--engine triton://HOST:PORT/NAME`` knows what it talks to.

Triton has no authentication of its own: ``serve`` binds 127.0.0.1 unless told otherwise, and refuses any
other address unless ``insecure_no_auth`` says so (put a proxy with TLS and auth in front of it).
PyTriton needs numpy < 2 and a Python whose libpython its backend stub can load (the OS Python on
Debian/Ubuntu/JetPack): give it a venv of its own (see docs/triton.md).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.artifact import INPUT_NAME, OUTPUT_NAME
from edgesr.errors import DeviceError, MissingDependencyError, UsageError, require
from edgesr.runtime.runner import Runner, open_runner
from edgesr.runtime.triton_runner import spec_parameters

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServeConfig:
    engine: Path
    name: str = "edgesr"
    grpc_port: int = 8001
    http_port: int = 8000
    listen: str = "127.0.0.1"
    insecure_no_auth: bool = False
    max_batch: int | None = None  # None: the engine's profile max batch, else 8 for a plain ONNX
    queue_delay_us: int = 2000
    threads: int | None = None

    def __post_init__(self) -> None:
        for flag, port in (("--port", self.grpc_port), ("--http-port", self.http_port)):
            if not 0 < port < 65536:
                raise UsageError(f"{flag} must be 1..65535, got {port}")
        if self.grpc_port == self.http_port:
            raise UsageError(f"--port and --http-port are both {self.grpc_port}: give two ports")
        if not self.listen:
            raise UsageError("--listen is empty: give an address, e.g. 127.0.0.1")
        if self.listen not in LOOPBACK:
            try:
                ipaddress.ip_address(self.listen)
            except ValueError:
                raise UsageError(f"--listen {self.listen!r} is not an IP address") from None
            if not self.insecure_no_auth:
                raise UsageError(
                    f"--listen {self.listen} serves beyond this machine, and Triton has no authentication: put a "
                    "TLS proxy with auth in front of it, or pass --insecure-no-auth to serve open"
                )
        if self.max_batch is not None and self.max_batch < 1:
            raise UsageError(f"--max-batch must be >= 1, got {self.max_batch}")
        if self.queue_delay_us < 0:
            raise UsageError(f"--queue-delay-us must be >= 0, got {self.queue_delay_us}")


def batch_limit(runner: Runner, asked: int | None) -> int:
    """The model's max_batch_size: what was asked, within what the engine's profile takes."""
    engine_max = runner.max_batch
    if asked is None:
        return engine_max or 8
    if engine_max is not None and asked > engine_max:
        raise UsageError(f"--max-batch {asked} exceeds the engine's max batch {engine_max}: rebuild it with "
                         f"`edgesr build-engine --max-batch {asked}`")
    return asked


@dataclass
class BatchCounts:
    """What the dynamic batcher formed: frames served, engine calls, the largest batch."""

    frames: int = 0
    calls: int = 0
    largest: int = 0

    def add(self, n: int) -> None:
        self.frames, self.calls, self.largest = self.frames + n, self.calls + 1, max(self.largest, n)

    def describe(self) -> str:
        mean = self.frames / self.calls if self.calls else 0.0
        return f"served {self.frames} frames in {self.calls} engine calls (batch mean {mean:.2f}, max {self.largest})"


def infer_function(runner: Runner, counts: BatchCounts) -> Callable[..., dict[str, np.ndarray]]:
    """Triton's batch (N, C, H, W) of one shape -> the runner's output, as PyTriton wants it."""

    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(inputs[INPUT_NAME], dtype=np.float32)
        y = runner.infer(x)
        counts.add(x.shape[0])
        return {OUTPUT_NAME: y}

    return infer


def _pytriton() -> tuple[Any, Any, Any]:
    why = "needed by `edgesr serve` (its own venv: numpy < 2, the OS Python)"
    triton = require("pytriton.triton", why=why)
    model_config = require("pytriton.model_config", why=why)
    decorators = require("pytriton.decorators", why=why)
    return triton, model_config, decorators


def describe_in_config(triton: Any, params: dict[str, str]) -> None:
    """Put the edgesr parameters into the config PyTriton generates (its ``backend_parameters`` become the
    model config's ``parameters``). PyTriton has no public hook for it; a release without this one is refused
    here rather than serving a model no client can describe."""
    try:
        for model in triton._model_manager.models:  # noqa: SLF001 - no public hook, see above
            model._get_triton_model_config().backend_parameters.update(params)  # noqa: SLF001
    except AttributeError as exc:
        raise MissingDependencyError(
            "nvidia-pytriton", None, f"this release cannot carry model parameters ({exc}); use 0.5 to 0.7"
        ) from None


def serve(cfg: ServeConfig, ready: Callable[[str], None] = print) -> None:
    """Serve until interrupted (KeyboardInterrupt: the CLI turns SIGTERM into one) or the server dies."""
    triton_mod, mc, decorators = _pytriton()
    runner = open_runner(cfg.engine, threads=cfg.threads)
    counts = BatchCounts()
    try:
        max_batch = batch_limit(runner, cfg.max_batch)
        c = runner.spec.in_channels
        config = triton_mod.TritonConfig(
            grpc_port=cfg.grpc_port, http_port=cfg.http_port, grpc_address=cfg.listen, http_address=cfg.listen,
            allow_metrics=False, exit_timeout_secs=5, log_verbose=0,
        )
        # started by run() below, after the model's config holds the edgesr parameters
        policy = triton_mod.TritonLifecyclePolicy(launch_triton_on_startup=False, local_model_store=False)
        with triton_mod.Triton(config=config, triton_lifecycle_policy=policy) as server:
            server.bind(
                model_name=cfg.name,
                infer_func=decorators.batch(infer_function(runner, counts)),
                inputs=[mc.Tensor(name=INPUT_NAME, dtype=np.float32, shape=(c, -1, -1))],
                outputs=[mc.Tensor(name=OUTPUT_NAME, dtype=np.float32, shape=(c, -1, -1))],
                config=mc.ModelConfig(
                    max_batch_size=max_batch,
                    batcher=mc.DynamicBatcher(max_queue_delay_microseconds=cfg.queue_delay_us),
                ),
                strict=True,
            )
            describe_in_config(server, spec_parameters(runner.spec, runner.precision))
            server.run()  # starts tritonserver and loads the model
            ready(
                f"serving {runner.describe()} as Triton model {cfg.name!r} (max batch {max_batch}): "
                f"--engine triton://{cfg.listen}:{cfg.grpc_port}/{cfg.name} (gRPC), "
                f"triton+http://{cfg.listen}:{cfg.http_port}/{cfg.name} (HTTP)"
            )
            while server.is_alive():
                time.sleep(0.5)
            raise DeviceError("the Triton server stopped (its log above says why)")
    finally:
        runner.close()
        ready(counts.describe())

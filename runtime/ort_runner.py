"""ONNX Runtime runner: CPU, CUDA and TensorRT execution providers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgesr.artifact import INPUT_NAME, ONNX_PRECISION_KEY, Sidecar, read_onnx_metadata, sha256_file
from edgesr.errors import BadInputError, IncompatibleArtifactError, UsageError, require
from edgesr.precisions import precision as precision_entry
from edgesr.runtime.runner import Runner

PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def resolve_providers(names: list[str] | None) -> list[str]:
    """CLI names (cpu, cuda, tensorrt) -> ONNX Runtime provider names, checked."""
    ort = require("onnxruntime", why="needed to run ONNX models")
    available = ort.get_available_providers()
    if not names:
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    out = []
    for n in names:
        full = PROVIDER_NAMES.get(n.lower(), n)
        if full not in available:
            raise UsageError(
                f"ONNX Runtime provider {n!r} is not available here (available: {', '.join(available)})"
            )
        out.append(full)
    return out


def require_usable() -> None:
    """The onnxruntime backend's availability check (``edgesr.backends``): ONNX Runtime imports."""
    require("onnxruntime", why="needed to run ONNX models")


def provider_options(providers: list[str], precision: str) -> list[dict[str, str]]:
    """Per-provider options. The TensorRT EP caches the engines it builds (minutes on a Jetson) under the
    edgesr cache, and may use FP16/INT8 kernels only for an engine that is FP16/INT8 already (the
    precision table's ``ort_trt_options``)."""
    out: list[dict[str, str]] = []
    for name in providers:
        opts: dict[str, str] = {}
        if name == "TensorrtExecutionProvider":
            from edgesr.samples import cache_dir

            opts = {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(cache_dir() / "ort-tensorrt"),
                "trt_timing_cache_enable": "True",
            }
            opts.update(precision_entry(precision).ort_trt_options)
        out.append(opts)
    return out


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        sidecar: Sidecar | None = None,
        providers: list[str] | None = None,
        threads: int | None = None,
        spinning: bool = False,
    ) -> None:
        ort = require("onnxruntime", why="needed to run ONNX models")
        self.path = Path(path)
        if sidecar is not None and sidecar.engine_sha256 != sha256_file(self.path):
            raise IncompatibleArtifactError(
                f"{self.path.name} is not the file its sidecar describes (sha256 differs): rebuild it with "
                "`edgesr build-engine`"
            )
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
        # Idle intra-op threads spin by default; with decode/encode threads beside the engine (or other
        # processes, or a Jetson's power budget) that burns the CPU they need. Measured on 2 shared cores,
        # edge_xs 64x96: 0.355 -> 0.318 CPU-s/frame and 1.88 -> 2.11 fps for the bare runner with it off.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        opts.log_severity_level = 3
        self.providers = resolve_providers(providers)
        options = provider_options(self.providers, sidecar.precision if sidecar is not None else "fp32")
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=self.providers, provider_options=options
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IncompatibleArtifactError(f"ONNX Runtime cannot load {self.path}: {msg}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        said = meta.get(ONNX_PRECISION_KEY)
        if sidecar is not None and said is not None and said != sidecar.precision:  # an edited label
            raise IncompatibleArtifactError(
                f"{self.path.name}: its sidecar says {sidecar.precision} but the model itself is {said}: "
                "rebuild it with `edgesr build-engine`"
            )
        own = sidecar or read_onnx_metadata(meta, self.path.name)
        self.spec, self.precision = own.spec, own.precision
        self.profile = sidecar.profile if sidecar is not None else None
        self.sidecar = sidecar
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise IncompatibleArtifactError(
                f"{self.path.name} is not an edgesr SR model: expected one NCHW input, got "
                f"{[(i.name, i.shape) for i in inputs]}"
            )
        self.input_name = inputs[0].name
        if self.session.get_providers() == ["CPUExecutionProvider"]:
            # Session.run is thread-safe and releases the GIL: on the CPU, calls from several threads run on
            # several cores at once, without the intra-op threads' per-layer barriers (docs/multistream.md)
            self.concurrent_calls = cpu_cores()
        if self.input_name != INPUT_NAME:
            raise IncompatibleArtifactError(f"{self.path.name}: input is named {self.input_name!r}, not {INPUT_NAME!r}")
        self.output_name = self.session.get_outputs()[0].name

    def _infer(self, x: np.ndarray) -> np.ndarray:
        try:
            (y,) = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x)})
        except Exception as exc:
            raise BadInputError(f"ONNX Runtime failed on input {x.shape}: {str(exc).splitlines()[0]}") from None
        return np.asarray(y, dtype=np.float32)

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]



def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1

"""The rows ``edgesr bench`` can measure, and how each is opened.

A row is a (backend, precision, variant). Each becomes a ``Candidate``: either a way to open
a session (a callable NCHW float32 -> NCHW float32) or the reason it cannot run here, which the
table shows instead of numbers (like Ultralytics' benchmark mode):

- ``pytorch`` (needs the checkpoint and torch; torch is imported only here, lazily): eager FP32
  (the baseline: the checkpoint's module as loaded, BatchNorm not folded), FP32 channels-last,
  bf16 autocast (CPU: only with native bf16, i.e. avx512_bf16/AMX; CUDA: where supported) and,
  on CUDA, fp16 autocast;
- every engine backend with a runner in the backend table (``edgesr.backends``: ``onnxruntime``,
  ``tensorrt``) at every precision of the precision table (``edgesr.precisions``): FP32 on ONNX Runtime
  is the exported ONNX itself; every other row is an engine from ``edgesr.export.build.build_engine``,
  the build path of ``edgesr build-engine`` with its accuracy gate (reported, never blocking: ``force``),
  run by ``edgesr.runtime.open_runner``. A backend not usable here is listed with its table's reason.

``pytorch`` and ``bf16`` are bench-only: the checkpoint under torch is the baseline the engines are compared
with, not an engine backend, and bf16 is a torch autocast mode, not an engine precision.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np

from edgesr.backends import runnable
from edgesr.errors import UsageError
from edgesr.export.calibration import CalibrationConfig
from edgesr.precisions import PRECISIONS as ENGINE_PRECISIONS
from edgesr.spec import ModelSpec

TORCH = "pytorch"  # bench-only row kind: the checkpoint under torch (the baseline), not an engine backend
TORCH_ONLY_PRECISIONS = ("bf16",)  # torch autocast; engines have no bf16 precision
BACKENDS = (TORCH, *(b.name for b in runnable()))
PRECISIONS = (*ENGINE_PRECISIONS, *TORCH_ONLY_PRECISIONS)


@dataclass(frozen=True)
class RowSpec:
    backend: str
    precision: str
    variant: str = ""  # e.g. "channels_last"

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.backend, self.precision, self.variant) if p)


class Session:
    """An opened row: ``session(x)`` runs one NCHW float32 batch and returns host memory."""

    device: str = "cpu"
    note: str = ""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional
        pass


@dataclass(frozen=True)
class Candidate:
    row: RowSpec
    open: Callable[[], Session] | None = None
    unavailable: str | None = None  # "not available: ..." / "not supported: ..."


# -- PyTorch ---------------------------------------------------------------------------------------
class TorchSession(Session):
    def __init__(self, checkpoint: Path, device: str, channels_last: bool, amp: str | None) -> None:
        import torch

        from edgesr.train.checkpoint import load_generator

        self._torch = torch
        self.model = load_generator(checkpoint).to(device)
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
        self.device = device
        threads = f", {torch.get_num_threads()} threads" if device == "cpu" else ""
        self.note = f"torch {torch.__version__}{threads}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from edgesr.train.infer import run_tensor
        from edgesr.train.steps import autocast

        t = self._torch.from_numpy(x)
        if self.channels_last:
            t = t.contiguous(memory_format=self._torch.channels_last)
        with autocast(self._torch.device(self.device), self.amp):
            y = run_tensor(self.model, t)
        return y.numpy()


def torch_installed() -> bool:
    """Without importing it (seconds): is torch there?"""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_device() -> str | None:
    """'cuda' / 'cpu' where torch imports, else None."""
    if not torch_installed():
        return None
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_candidates(checkpoint: Path | None) -> list[Candidate]:
    rows = [RowSpec("pytorch", "fp32"), RowSpec("pytorch", "fp32", "channels_last"), RowSpec("pytorch", "bf16")]
    if not torch_installed():
        why = "not available: torch is not installed (pip install 'edgesr[train]')"
        return [Candidate(r, unavailable=why) for r in rows]
    if checkpoint is None:
        why = "not available: --model is an ONNX file (the PyTorch rows need the .pt checkpoint)"
        return [Candidate(r, unavailable=why) for r in rows]
    device = torch_device()
    if device is None:
        return [Candidate(r, unavailable="not available: torch does not import here") for r in rows]
    if device == "cuda":
        rows.append(RowSpec("pytorch", "fp16"))
    return [_torch_candidate(r, checkpoint, device) for r in rows]


def _torch_candidate(row: RowSpec, checkpoint: Path, device: str) -> Candidate:
    import torch

    mkldnn = torch.backends.mkldnn.is_available()
    if device == "cpu" and row.variant == "channels_last" and not mkldnn:
        return Candidate(row, unavailable="not supported: this PyTorch has no oneDNN (mkldnn) for channels-last")
    if row.precision == "bf16":
        if device == "cuda" and not torch.cuda.is_bf16_supported():
            return Candidate(row, unavailable="not supported: this GPU has no bf16")
        if device == "cpu":
            from edgesr.machine import cpu_has_native_bf16

            if not (mkldnn and cpu_has_native_bf16()):
                capability = torch.backends.cpu.get_cpu_capability()
                return Candidate(
                    row,
                    unavailable=f"not supported: no native bf16 on this CPU ({capability}; needs avx512_bf16 or "
                    "AMX), PyTorch would emulate it slower than fp32",
                )
    amp = row.precision if row.precision in ("bf16", "fp16") else None
    return Candidate(row, lambda: TorchSession(checkpoint, device, row.variant == "channels_last", amp))


# -- engines (ONNX Runtime, TensorRT) ------------------------------------------------------------------
class RunnerSession(Session):
    def __init__(
        self,
        path: str | Path,
        note: str = "",
        threads: int | None = None,
        providers: list[str] | None = None,
        runner: Any = None,
    ) -> None:
        from edgesr.runtime import open_runner

        self.runner = runner if runner is not None else open_runner(path, threads=threads, providers=providers)
        used: list[str] = getattr(self.runner, "providers", [])  # ONNX Runtime; TensorRT has none
        self.device = used[0].removesuffix("ExecutionProvider").lower() if used else "cuda"  # TensorRT: the GPU
        if self.runner.backend == "triton":
            self.device = "remote"
        self.note = note

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.runner.infer(x)

    def close(self) -> None:
        self.runner.close()


class Variants:
    """The FP32 ONNX and the precision variants made from it, written under ``folder`` on first use."""

    def __init__(
        self,
        onnx: Path,
        folder: Path,
        calibration: CalibrationConfig,
        sizes: list[tuple[int, int]],
        say: Callable[[str], None],
    ) -> None:
        self.onnx, self.folder, self.calibration, self.sizes, self.say = onnx, folder, calibration, sizes, say
        self._made: dict[str, tuple[Path, str]] = {}

    def engine(self, backend: str, precision: str) -> tuple[Path, str]:
        """The row's artifact, built on first use: the exported ONNX for ONNX Runtime FP32, else an engine made
        by ``build_engine`` (the precision's variant, the backend's builder, the accuracy gate) from it."""
        key = f"{backend}-{precision}"
        if key not in self._made:
            self._made[key] = self._build(backend, precision)
        return self._made[key]

    def _build(self, backend: str, precision: str) -> tuple[Path, str]:
        from edgesr.export.build import BuildConfig, build_engine, default_output

        if backend == "onnxruntime" and precision == "fp32":
            return self.onnx, "the exported FP32 ONNX"
        hs, ws = [s[0] for s in self.sizes], [s[1] for s in self.sizes]
        out = default_output(self.onnx, precision, backend, self.folder)
        cfg = BuildConfig(
            onnx=self.onnx, output=out, precision=precision, backend=backend,
            min_shape=(min(hs), min(ws)), max_shape=(max(hs), max(ws)), calibration=self.calibration, force=True,
            check_data=self._check_data((max(hs), max(ws))),
        )
        self.say(f"building the {backend} {precision} engine (accuracy gate reported, not enforced)")
        result = build_engine(cfg, step=self.say)
        gate = "passed" if result.gate.passed else "FAILED"
        note = f"gate {gate}: worst {result.gate.worst.psnr_vs_fp32:.2f} dB on holdout"
        rec = result.gate.int8
        if rec:
            keep = rec["keep_float"]
            note += (
                f"; {rec['calibration_method']} calibration, {len(keep) if isinstance(keep, list) else 0} convs in "
                f"float, {100 * rec['int8_mac_share']:.1f}% of MACs in INT8"
            )
        return out, note

    def _check_data(self, max_lr: tuple[int, int]) -> str | None:
        """None: the gate's built-in holdout photos. Without scikit-image (they come from it; a bare Jetson
        install) a synthetic pattern the size of the largest input stands in, as for the bench's own input;
        the gate report's ``check_data`` names the folder."""
        from edgesr.errors import MissingDependencyError
        from edgesr.samples import samples_dir

        try:
            samples_dir("holdout")
            return None
        except MissingDependencyError:
            from edgesr.bench.measure import synthetic_pattern
            from edgesr.export.onnx_io import open_edgesr_onnx
            from edgesr.imageops import save_image

            scale = open_edgesr_onnx(self.onnx).spec.scale
            folder = self.folder / "check-synthetic"
            save_image(folder / "pattern.png", synthetic_pattern(max_lr[0] * scale, max_lr[1] * scale))
            return str(folder)


def given_candidates(engines: tuple[str, ...], spec: ModelSpec, threads: int | None) -> list[Candidate]:
    """One row per ``--engine`` (an engine file or a remote address such as ``triton://HOST:PORT/MODEL``), opened
    here: its backend and precision name the row, and it must be the model benchmarked."""
    from edgesr.backends import remote
    from edgesr.runtime import open_runner

    out = []
    for engine in engines:
        runner = open_runner(engine, threads=None if remote(engine) else threads)
        if runner.spec != spec:
            runner.close()
            raise UsageError(f"--engine {engine} is {runner.spec.describe()}, but the model is {spec.describe()}")
        session = RunnerSession(engine, f"--engine {engine}", runner=runner)

        def opened(s: Session = session) -> Session:
            return s

        out.append(Candidate(RowSpec(runner.backend, runner.precision, "given"), opened))
    return out


def engine_candidates(variants: Variants, threads: int | None) -> list[Candidate]:
    """One row per (backend with a runner, precision): opened lazily, or the backend's reason it cannot run."""
    out = []
    for entry in runnable():
        why = entry.probe()
        for precision in ENGINE_PRECISIONS:
            if precision not in entry.precisions:
                continue

            def open_row(b: str = entry.name, p: str = precision) -> Session:
                path, note = variants.engine(b, p)
                return RunnerSession(path, note, threads)  # threads: ONNX Runtime only, others ignore it

            row = RowSpec(entry.name, precision)
            out.append(Candidate(row, open_row) if why is None else Candidate(row, unavailable=f"not available: {why}"))
    return out

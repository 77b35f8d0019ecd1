"""``edgesr bench``: one model, every backend and precision available here, at chosen input sizes.

For each row (``edgesr.bench.rows``) and size: latency median and p95 after warm-up, fps, achieved
GFLOP/s (2 x ``spec.macs_per_output_pixel()`` x output pixels / median latency), peak host memory
(``edgesr.bench.measure``), and the PSNR of the row's output against the FP32 reference on a real photo
(RGB uint8 after ``imageops.from_nchw``, as the accuracy gate measures it). The reference is the
PyTorch eager FP32 model on the CPU where the checkpoint and torch are there, else the FP32 ONNX
under ONNX Runtime on the CPU: computed once per size, untimed, whatever rows are selected.

Rows that cannot run here are listed with the reason; a row that fails is recorded as an error
and the bench goes on. Ctrl-C stops it and keeps the rows measured so far (files written).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesr.artifact import sidecar_path
from edgesr.bench.measure import PeakMemory, real_input, time_calls
from edgesr.bench.result import BenchResult, BenchRow
from edgesr.bench.rows import (
    BACKENDS,
    PRECISIONS,
    TORCH,
    Candidate,
    RunnerSession,
    Session,
    TorchSession,
    Variants,
    engine_candidates,
    given_candidates,
    torch_candidates,
    torch_installed,
)
from edgesr.compare import compare
from edgesr.errors import BadInputError, UsageError
from edgesr.export.build import default_profile
from edgesr.export.calibration import CalibrationConfig
from edgesr.imageops import from_nchw, to_nchw
from edgesr.machine import describe_machine
from edgesr.spec import ModelSpec

SMALL_SIZE = (64, 64)


@dataclass(frozen=True)
class BenchConfig:
    model: Path | None = None  # checkpoint (.pt) or FP32 ONNX; None = the shipped model
    sizes: tuple[tuple[int, int], ...] | None = None  # LR input HxW; None = default_sizes(spec)
    backends: tuple[str, ...] = BACKENDS
    precisions: tuple[str, ...] = PRECISIONS
    warmup: int = 2
    runs: int = 10
    out: Path = Path("edgesr-bench")
    calib_images: int = 32
    threads: int | None = None  # ONNX Runtime intra-op threads (None: its default)
    engines: tuple[str, ...] = ()  # more rows: given engines or remote addresses (triton://), always measured

    def __post_init__(self) -> None:
        choices = (("--backends", self.backends, BACKENDS), ("--precisions", self.precisions, PRECISIONS))
        for name, given, known in choices:
            unknown = [v for v in given if v not in known]
            if unknown or not given:
                raise UsageError(f"{name} takes a comma-separated subset of {','.join(known)}, got {','.join(given)}")
        if self.warmup < 0 or self.runs < 1:
            raise UsageError(f"--warmup must be >= 0 and --runs >= 1, got {self.warmup} and {self.runs}")
        if self.sizes is not None and (not self.sizes or any(min(s) < 1 for s in self.sizes)):
            raise UsageError(f"--sizes must be positive HxW sizes, got {self.sizes}")
        if self.calib_images < 1:
            raise UsageError(f"calibration needs at least one image, got {self.calib_images}")


@dataclass(frozen=True)
class ModelFiles:
    checkpoint: Path | None
    onnx: Path
    spec: ModelSpec


def default_sizes(spec: ModelSpec) -> tuple[tuple[int, int], ...]:
    """A small quick size, then the inputs for 720p and 1080p output at the model's scale."""
    p = default_profile(spec)
    return tuple(dict.fromkeys([SMALL_SIZE, p.opt, p.max]))


def calibration_shape(spec: ModelSpec, sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """INT8 calibration crops: build-engine's default (the 720p-output input, so the cached ranges are
    shared with `edgesr build-engine --int8`), but never larger than the largest size benchmarked."""
    opt = default_profile(spec).opt
    return min(opt[0], max(h for h, _ in sizes)), min(opt[1], max(w for _, w in sizes))


def resolve_model(model: Path | None, folder: Path, say: Callable[[str], None]) -> ModelFiles:
    """The checkpoint (if any) and the FP32 ONNX to benchmark; a checkpoint is exported first."""
    from edgesr.export.onnx_io import open_edgesr_onnx

    if model is None:
        from edgesr.pretrained import default_checkpoint, default_onnx

        model = default_checkpoint() if torch_installed() else default_onnx()
    if not model.is_file():
        raise BadInputError(f"model not found: {model}")
    refuse = (
        f"{model.name} is a built engine or precision variant: bench takes a checkpoint or the FP32 ONNX from "
        "`edgesr export` and builds the variants itself"
    )
    if sidecar_path(model).exists():
        raise UsageError(refuse)
    if model.suffix.lower() == ".onnx":
        src = open_edgesr_onnx(model)
        if src.precision != "fp32":
            raise UsageError(refuse)
        return ModelFiles(None, model, src.spec)
    if not torch_installed():
        raise BadInputError(
            f"{model.name} is a PyTorch checkpoint and torch is not installed: pass the FP32 ONNX from "
            "`edgesr export` with --model, or pip install 'edgesr[train]'"
        )
    from edgesr.export.onnx_export import export_onnx

    say(f"exporting {model.name} to ONNX (with the parity check)")
    result = export_onnx(model, folder / f"{model.stem}.onnx")
    return ModelFiles(model, result.path, result.spec)


def _reference(files: ModelFiles, inputs: dict[tuple[int, int], np.ndarray], say: Callable[[str], None]):  # type: ignore[no-untyped-def]
    """FP32 outputs (uint8 RGB) per size, and what made them."""
    if files.checkpoint is not None and torch_installed():
        session: Session = TorchSession(files.checkpoint, "cpu", False, None)
        label = "pytorch fp32 eager on the CPU"
    else:
        session = RunnerSession(files.onnx, providers=["cpu"])
        label = "onnxruntime fp32 on the CPU"
    say(f"FP32 reference outputs ({label})")
    try:
        return {size: from_nchw(session(x))[0] for size, x in inputs.items()}, label
    finally:
        session.close()


def _selected(cands: list[Candidate], cfg: BenchConfig) -> list[Candidate]:
    return [c for c in cands if c.row.backend in cfg.backends and c.row.precision in cfg.precisions]


def run_bench(cfg: BenchConfig, say: Callable[[str], None] = lambda _m: None) -> BenchResult:
    started = time.perf_counter()
    machine = describe_machine()
    models_dir = cfg.out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    files = resolve_model(cfg.model, models_dir, say)
    spec = files.spec
    sizes = list(cfg.sizes or default_sizes(spec))
    cal = CalibrationConfig(images=cfg.calib_images, shape=calibration_shape(spec, sizes))
    variants = Variants(files.onnx, models_dir, cal, sizes, say)
    cands = _selected(torch_candidates(files.checkpoint) + engine_candidates(variants, cfg.threads), cfg)
    cands += given_candidates(cfg.engines, spec, cfg.threads)
    photo = {}
    for h, w in sizes:
        img, photo_name = real_input(h, w)
        photo[(h, w)] = to_nchw(img)
    mem = PeakMemory()
    result = BenchResult(
        model={
            "path": str(cfg.model or (files.checkpoint or files.onnx)), "onnx": str(files.onnx),
            "spec": spec.to_dict(), "describe": spec.describe(), "params": spec.num_params(),
            "macs_per_output_pixel": spec.macs_per_output_pixel(),
        },
        machine=machine,
        config={
            "sizes": [f"{h}x{w}" for h, w in sizes], "backends": list(cfg.backends),
            "precisions": list(cfg.precisions), "warmup": cfg.warmup, "runs": cfg.runs,
            "input_image": photo_name,
            "calibration": {"images": cal.images, "shape": list(cal.shape), "method": cal.method},
        },
        reference="",
        baseline="",
        memory_method=mem.method,
    )
    try:
        refs, result.reference = _reference(files, photo, say)
        for cand in cands:
            result.rows += _measure(cand, sizes, photo, refs, spec, cfg, mem, say)
    except KeyboardInterrupt:
        result.interrupted = True
    order = {s: i for i, s in enumerate(sizes)}
    result.rows.sort(key=lambda r: order[r.size])  # stable: candidate order within a size
    _speedups(result, sizes)
    result.duration_s = round(time.perf_counter() - started, 1)
    from edgesr.bench.report import write_outputs

    result.files = write_outputs(result, cfg.out)
    return result


def _measure(
    cand: Candidate,
    sizes: list[tuple[int, int]],
    photo: dict[tuple[int, int], np.ndarray],
    refs: dict[tuple[int, int], np.ndarray],
    spec: ModelSpec,
    cfg: BenchConfig,
    mem: PeakMemory,
    say: Callable[[str], None],
) -> list[BenchRow]:
    if cand.open is None:
        return [BenchRow(s, cand.row, cand.unavailable or "not available") for s in sizes]
    say(f"{cand.row.label}: opening")
    try:
        session = cand.open()
    except Exception as exc:  # a row that cannot be built or opened is reported, the bench goes on
        return [BenchRow(s, cand.row, _error(exc)) for s in sizes]
    rows = []
    try:
        for size in sizes:
            h, w = size
            say(f"{cand.row.label} @ {h}x{w}: {cfg.warmup} warm-up + {cfg.runs} timed runs")
            row = BenchRow(size, cand.row, "ok", session.device, session.note)
            mem.start()
            try:
                row.timing, y = time_calls(session, photo[size], cfg.warmup, cfg.runs)
            except Exception as exc:
                row.status = _error(exc)
                rows.append(row)
                continue
            row.peak_rss_mib, row.rss_delta_mib = mem.result_mib()
            out_px = h * spec.scale * w * spec.scale
            row.gflops = 2 * spec.macs_per_output_pixel() * out_px / (row.timing.median_ms / 1e3) / 1e9
            row.psnr_vs_fp32 = compare(y, refs[size]).psnr_vs_reference
            rows.append(row)
    finally:
        session.close()
    return rows


def _error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"error: {type(exc).__name__}: {text}" if text else f"error: {type(exc).__name__}"


def _speedups(result: BenchResult, sizes: list[tuple[int, int]]) -> None:
    """Speed-up against PyTorch eager FP32 at the same size, else against ONNX Runtime FP32."""
    for label in (f"{TORCH} fp32", "onnxruntime fp32"):
        backend, precision = label.split()
        bases = {s: result.find(s, backend, precision) for s in sizes}
        if any(b is not None and b.ok for b in bases.values()):
            result.baseline = label
            for r in result.rows:
                base = bases.get(r.size)
                if r.ok and base is not None and base.ok and r.timing and base.timing:
                    r.speedup = base.timing.median_ms / r.timing.median_ms
            return

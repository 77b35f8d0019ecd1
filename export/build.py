"""``edgesr build-engine``: FP32 ONNX -> precision variant -> engine -> accuracy gate -> files.

Steps (nothing is written at ``output`` unless the gate passes or ``--force`` is given):
1. open the FP32 ONNX from ``edgesr export`` (clear errors for anything else);
2. make the precision's ONNX on the CPU: FP32 as is, FP16 (``fp16``), INT8 Q/DQ from cached
   calibration with measured float convs (``int8_build``: ``calibration``, ``int8_search``,
   ``int8``); ``--backend onnx`` stops there and writes that Q/DQ ONNX as is (portable); a
   Q/DQ ONNX written so is taken as the source of a ``--backend tensorrt`` INT8 build, gated
   against the FP32 reference its sidecar names;
3. build the engine next to ``output`` under a temporary name with the backend's builder (the table
   ``edgesr.backends``: ``engine_ort`` or ``engine_trt``), with a provisional sidecar;
4. open that very file with ``edgesr.runtime.open_runner`` and gate it against the FP32
   ONNX on check images that were not used for calibration (``gate``);
5. move it into place with its sidecar (``<output>.json``), the gate report
   (``<output>.gate.json``) and the FP32 reference ONNX beside it (for stream checks).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgesr.artifact import (
    ShapeProfile,
    Sidecar,
    atomic_write,
    json_text,
    read_sidecar,
    sha256_file,
    sidecar_path,
    temp_name,
    write_json,
    write_sidecar,
)
from edgesr.backends import EngineRequest, backend, default_backend, known
from edgesr.errors import AccuracyGateError, IncompatibleArtifactError, UsageError
from edgesr.export.calibration import CalibrationConfig
from edgesr.export.check_images import gate_check_set
from edgesr.export.gate import GateReport, exact_qdq_session, measure
from edgesr.export.onnx_io import EdgeSRModel, open_edgesr_onnx, save_model
from edgesr.export.variants import VariantRequest
from edgesr.precisions import precision as precision_entry
from edgesr.samples import samples_dir
from edgesr.spec import ModelSpec

Progress = Callable[[str, int], Callable[[int, int], None]]  # (label, total) -> update(done, total)


def default_output(onnx: Path, precision: str, backend: str, folder: Path | None = None) -> Path:
    """``<name>.<precision>.engine`` (TensorRT), ``.ort.onnx`` (ONNX Runtime), ``.qdq.onnx`` (portable Q/DQ),
    beside the ONNX or in ``folder``."""
    suffix = backend_suffix(backend)
    return (folder or onnx.parent) / f"{onnx.name.removesuffix('.onnx')}.{precision}{suffix}"


def backend_suffix(name: str) -> str:
    return backend(name).suffix


@dataclass(frozen=True)
class BuildConfig:
    """What to build. It refuses conflicting settings when made (``UsageError``), before any work;
    ``with_defaults`` fills in the default backend and output name."""

    onnx: Path
    output: Path
    precision: str = "fp32"
    backend: str = "onnxruntime"
    min_shape: tuple[int, int] | None = None  # input HxW; None = defaults for the model's scale
    opt_shape: tuple[int, int] | None = None
    max_shape: tuple[int, int] | None = None
    max_batch: int = 1
    calibration: CalibrationConfig = CalibrationConfig()  # its shape is replaced by the opt shape
    int8_keep: str = "auto"
    check_data: str | None = None  # None = built-in holdout samples
    min_psnr_db: float | None = None  # None = the precision's default (edgesr.precisions)
    force: bool = False
    workspace_mib: int | None = 1024
    timing_cache: Path | None = None
    dla_core: int | None = None
    int8_flags: tuple[str, ...] = ()  # INT8-only options the user gave: refused for other precisions

    def __post_init__(self) -> None:
        entry = precision_entry(self.precision)
        if self.int8_flags and not entry.quantized:
            raise UsageError(f"{', '.join(self.int8_flags)} only apply to --int8 builds")
        b = backend(self.backend)
        if b.builder is None or self.precision not in b.precisions:
            if self.backend == "onnx":
                raise UsageError(
                    "--backend onnx writes the portable INT8 Q/DQ ONNX (add --int8); "
                    "the FP32 ONNX from `edgesr export` is already portable"
                )
            raise UsageError(f"--backend {self.backend} does not build {self.precision} engines")
        if self.backend != "tensorrt" and self.dla_core is not None:
            raise UsageError("--dla-core needs --backend tensorrt (DLA is a TensorRT device)")

    @property
    def min_psnr(self) -> float:
        """The gate's threshold: the one given, else the precision's default."""
        return self.min_psnr_db if self.min_psnr_db is not None else precision_entry(self.precision).min_psnr_db

    @classmethod
    def with_defaults(
        cls, onnx: Path, output: Path | None = None, backend: str | None = None, precision: str = "fp32", **kw: Any
    ) -> BuildConfig:
        """``backend`` None: ``default_backend()``; ``output`` None: ``default_output`` beside the ONNX."""
        backend = backend or default_backend()
        if output is None:  # an unknown backend is refused by __post_init__
            output = default_output(onnx, precision, backend) if known(backend) else onnx
        return cls(onnx=onnx, output=output, precision=precision, backend=backend, **kw)


@dataclass(frozen=True)
class BuildResult:
    engine: Path
    sidecar: Sidecar
    gate: GateReport
    report_path: Path
    calibration_reused: bool | None


def default_profile(spec: ModelSpec) -> ShapeProfile:
    """Input shapes for 720p output (opt) up to 1080p output (max) at the model's scale,
    from 32x32 (small tiles) up: x4 -> opt 180x320, max 270x480; x2 -> 360x640, 540x960."""
    s = spec.scale
    return ShapeProfile((32, 32), (math.ceil(720 / s), math.ceil(1280 / s)), (math.ceil(1080 / s), math.ceil(1920 / s)))


def resolve_profile(spec: ModelSpec, cfg: BuildConfig) -> ShapeProfile:
    if spec.fixed_tile is not None:  # exported at one tile: the engine takes that shape, the runner tiles frames
        t = spec.fixed_tile
        given = {"--min-shape": cfg.min_shape, "--opt-shape": cfg.opt_shape, "--max-shape": cfg.max_shape}
        for flag, hw in given.items():
            if hw is not None and hw != t:
                raise UsageError(
                    f"{flag} {hw[0]}x{hw[1]}: {spec.describe()} was exported at a fixed {t[0]}x{t[1]} tile, the only "
                    "shape its engines take (every frame is tiled through it); leave the shapes out"
                )
        if cfg.max_batch != 1:
            raise UsageError(f"--max-batch {cfg.max_batch}: a model exported at a fixed tile runs batch 1")
        return ShapeProfile(t, t, t, 1)
    d = default_profile(spec)
    mn, opt, mx = cfg.min_shape or d.min, cfg.opt_shape, cfg.max_shape or d.max
    if opt is None:  # the default opt, clamped into a user-given range
        opt = (min(max(d.opt[0], mn[0]), mx[0]), min(max(d.opt[1], mn[1]), mx[1]))
    if cfg.max_batch < 1:
        raise UsageError(f"--max-batch must be at least 1, got {cfg.max_batch}")
    from edgesr.runtime.size_rule import padded_side  # a size rule (window attention): the engine sees padded inputs

    rule = spec.size_multiple, spec.min_size
    mn, opt, mx = ((padded_side(h, *rule), padded_side(w, *rule)) for h, w in (mn, opt, mx))
    return ShapeProfile(tuple(mn), tuple(opt), tuple(mx), cfg.max_batch)  # type: ignore[arg-type]


def check_machine(cfg: BuildConfig) -> None:
    """Refuse what this machine cannot build, before any work is done (the flags were checked when ``cfg``
    was made): the backend's own check (TensorRT: imports, a supported version, a GPU)."""
    backend(cfg.backend).require()()
    if cfg.output.resolve() == cfg.onnx.resolve():
        raise UsageError(f"-o {cfg.output} would overwrite the source ONNX: choose another output path")


def _variant(src: EdgeSRModel, cfg: BuildConfig, profile: ShapeProfile, workdir: Path, progress: Progress | None):
    """The precision's ONNX (written into ``workdir``) and build facts about it."""
    entry = precision_entry(cfg.precision)
    if entry.variant is None:
        return src, {}, None
    request = VariantRequest(replace(cfg.calibration, shape=profile.opt), cfg.int8_keep, cfg.min_psnr, progress)
    made = entry.variant()(src, request)
    path = save_model(made.model, workdir / f"{cfg.precision}.onnx")
    info = {**made.info, "variant_onnx_sha256": sha256_file(path)}
    return open_edgesr_onnx(path), info, made.calibration


def _check_graph_matches_metadata(src: EdgeSRModel, profile: ShapeProfile) -> None:
    """One run at the smallest shape: an ONNX whose edgesr metadata contradicts its graph (another scale,
    other channels) is an incompatible artifact, refused before calibration and the gate."""
    import numpy as np

    from edgesr.runtime import open_runner

    with open_runner(src.path, providers=["cpu"]) as probe:
        probe.infer(np.zeros((1, src.spec.in_channels, *profile.min), dtype=np.float32))


def _portable_reference(qdq: EdgeSRModel, cfg: BuildConfig) -> EdgeSRModel:
    """The FP32 ONNX a portable Q/DQ ONNX was made from (named by its sidecar, beside it)."""
    if cfg.backend != "tensorrt":
        raise UsageError(f"{qdq.path.name} is already an INT8 Q/DQ ONNX: build it with --backend tensorrt")
    if cfg.int8_keep != "auto" or cfg.calibration != CalibrationConfig():
        raise UsageError(f"{qdq.path.name} is already calibrated and placed: drop --calib-*/--int8-keep")
    if not sidecar_path(qdq.path).is_file():
        raise IncompatibleArtifactError(f"{qdq.path.name} has no sidecar {sidecar_path(qdq.path).name} beside it")
    ref = read_sidecar(qdq.path).reference_onnx
    if not ref:
        raise IncompatibleArtifactError(f"{sidecar_path(qdq.path).name} names no FP32 reference ONNX")
    return open_edgesr_onnx(qdq.path.with_name(ref))


def _place_reference(src: Path, output: Path) -> str:
    """The FP32 ONNX beside the engine (for stream PSNR checks); its name relative to it."""
    if src.resolve().parent == output.resolve().parent:
        return src.name
    ref = output.with_name(f"{output.stem}.fp32.onnx")
    with atomic_write(ref, "FP32 reference") as tmp:
        shutil.copyfile(src, tmp)
    return ref.name


def build_engine(
    cfg: BuildConfig, progress: Progress | None = None, step: Callable[[str], None] | None = None
) -> BuildResult:
    say = step or (lambda _msg: None)
    check_machine(cfg)
    src = open_edgesr_onnx(cfg.onnx)
    qdq_source = None
    if src.precision == "int8" and cfg.precision == "int8":  # a portable Q/DQ ONNX (--backend onnx)
        qdq_source, src = src, _portable_reference(src, cfg)
    elif src.precision != "fp32":
        raise UsageError(
            f"{cfg.onnx.name} is already {src.precision}: build-engine takes the FP32 ONNX from `edgesr export` "
            "and makes the precision itself (--fp16/--int8)"
        )
    profile = resolve_profile(src.spec, cfg)
    _check_graph_matches_metadata(src, profile)
    request = EngineRequest(cfg.precision, profile, cfg.workspace_mib, cfg.timing_cache, cfg.dla_core)
    chosen = backend(cfg.backend)
    min_psnr = cfg.min_psnr
    out = cfg.output
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_engine = temp_name(out)
    with tempfile.TemporaryDirectory(prefix="edgesr-build-") as work:
        say(f"{src.spec.describe()} -> {cfg.precision} {cfg.backend}, input {profile.describe()}")
        if qdq_source is not None:
            variant, info, cal = qdq_source, {"source_qdq_onnx": qdq_source.path.name}, None
        else:
            variant, info, cal = _variant(src, cfg, profile, Path(work), progress)
        exclude = frozenset(p.resolve() for p in cal.images) if cal else frozenset()
        check_dir = Path(cfg.check_data) if cfg.check_data else samples_dir("holdout")
        pairs, classes, skipped = gate_check_set(  # natural images + synthetic camera frames (content classes)
            check_dir, src.spec.scale, max_lr=profile.max, min_lr=profile.min, exclude=exclude
        )
        say(f"building the {cfg.backend} engine")
        try:
            assert chosen.builder is not None  # BuildConfig refused a backend that builds nothing
            built = chosen.builder()(variant.path, tmp_engine, request)
            for message in built.messages:
                say(f"{cfg.backend} said: {message}")
            sidecar = Sidecar(
                backend=chosen.runs_as,  # the portable Q/DQ file (--backend onnx) runs on ONNX Runtime too
                precision=cfg.precision,
                spec=src.spec,
                profile=profile,
                source_onnx_sha256=sha256_file(src.path),
                engine_sha256=sha256_file(tmp_engine),
                backend_version=built.backend_version,
                device=built.device,
                build={"source_onnx": src.path.name, "engine": built.facts, **info},
            )
            write_sidecar(tmp_engine, sidecar)
            report = _gate(tmp_engine, src, pairs, skipped, cfg, min_psnr, check_dir, progress, classes)
            report.int8 = info.get("int8")
            report.fp16 = info.get("fp16")
            report.forced = cfg.force and not report.passed
            if not report.passed and not cfg.force:
                report_path = out.with_name(out.name + ".gate-failed.json")
                write_json(report_path, report.to_dict())  # the explanation of the refusal; no engine is written
                raise AccuracyGateError(
                    f"{cfg.precision} engine refused: {report.failure()} (report: {report_path}); "
                    "--force writes it anyway"
                )
            report_path = out.with_name(out.name + ".gate.json")
            sidecar.gate = {k: v for k, v in report.to_dict().items() if k != "images"} | {"report": report_path.name}
            sidecar.reference_onnx = _place_reference(src.path, out)
            # Engine, gate report and sidecar are all written to temps first and renamed together (engine
            # first): a failed write leaves the previous engine, its sidecar and its report as they were.
            with atomic_write(sidecar_path(out), "engine sidecar") as side_tmp, \
                    atomic_write(report_path, "gate report") as report_tmp, \
                    atomic_write(out, "engine") as engine_tmp:
                side_tmp.write_text(json_text(sidecar.to_dict()))
                report_tmp.write_text(json_text(report.to_dict()))
                os.replace(tmp_engine, engine_tmp)
            out.with_name(out.name + ".gate-failed.json").unlink(missing_ok=True)  # stale: this build passed
        finally:
            tmp_engine.unlink(missing_ok=True)
            sidecar_path(tmp_engine).unlink(missing_ok=True)
    return BuildResult(out, sidecar, report, report_path, cal.cached if cal else None)


def _gate(
    engine: Path,
    src: EdgeSRModel,
    pairs: list,
    skipped: list[str],
    cfg: BuildConfig,
    min_psnr: float,
    check_dir: Path,
    progress: Progress | None,
    classes: dict[str, str] | None = None,
) -> GateReport:
    from edgesr.runtime import open_runner

    update = progress("accuracy gate", len(pairs)) if progress else None
    on_ort = backend(cfg.backend).runs_as == "onnxruntime"
    exact = exact_qdq_session(engine) if precision_entry(cfg.precision).quantized and on_ort else None
    with open_runner(engine) as variant, open_runner(src.path, providers=["cpu"]) as reference:
        results = measure(variant, reference, pairs, src.spec.scale, update, exact, classes)
    return GateReport(
        precision=cfg.precision,
        backend=cfg.backend,
        artifact=cfg.output.name,
        reference=src.path.name,
        check_data=str(cfg.check_data) if cfg.check_data else "built-in 'holdout' samples",
        min_psnr_db=min_psnr,
        images=results,
        skipped=skipped,
    )

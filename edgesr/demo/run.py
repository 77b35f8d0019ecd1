"""``edgesr demo``: the whole toolkit on a fresh machine, no data and no GPU needed, in a few minutes.

Steps (each says what it does; every function is the stages' own, no subprocesses):
1. model: the shipped checkpoint, a given one, or a short training run on the built-in samples;
2. export to ONNX with the parity proof (``onnx_export.export_onnx``);
3. FP16 and INT8 engines with the accuracy gate (``build.build_engine``) on the default backend
   (``edgesr.backends.default_backend``: TensorRT where it is usable, else ONNX Runtime, said so with the
   reason); a gate failure is reported and the demo goes on;
4. a moving clip made from a built-in photo (``edgesr.demo.media``);
5. the clip streamed through the INT8 engine (FP16, then FP32, if a gate refused it) with PSNR
   checks against FP32, written side by side (bicubic | SR) as .mp4 (``runtime.stream.run_stream``);
6. a labelled bicubic | SR | HR PNG of a held-out built-in photo, with Y-PSNR against the HR;
7. camera footage (``edgesr.demo.camera``): a clip with sensor noise and low-bitrate H.264, through both shipped
   models (``edge_s`` and ``edge_s_camera``), scored against its HR frames, as a side-by-side PNG;
8. ``demo.json``: where everything is and the numbers.

The output folder must be new, empty or a previous demo's (``edgesr.demo.output``): user files are never touched.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesr import __version__
from edgesr.artifact import write_json
from edgesr.backends import backend as backend_entry
from edgesr.backends import default_backend
from edgesr.demo.media import comparison_png, write_clip
from edgesr.demo.output import DemoDir
from edgesr.errors import AccuracyGateError, BadInputError, UsageError
from edgesr.export.build import BuildConfig, BuildResult, Progress, build_engine
from edgesr.export.calibration import CalibrationConfig
from edgesr.export.parity import json_db
from edgesr.imageops import downscale, from_nchw, load_image, mod_crop, read_image, to_nchw, upscale_bicubic
from edgesr.metrics import sr_psnr_ssim
from edgesr.pairs import centre_crop
from edgesr.runtime.stream_report import StreamReport
from edgesr.samples import samples_dir

CLIP_PHOTO = ("train", "astronaut.png")
COMPARE_PHOTO = ("holdout", "camera.png")
STEPS = 8


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("edgesr-demo")
    checkpoint: Path | None = None  # None: the shipped model, or training when it is absent
    train_steps: int | None = None  # train this many steps on the built-in samples
    keep: bool = False  # keep the training run folder (logs, sample grids, checkpoints)
    frames: int = 60
    lr_size: tuple[int, int] = (120, 160)  # clip frames (H, W): x4 -> 480x640
    fps: int = 30
    check_every: int = 10
    calib_images: int = 16
    max_shape: tuple[int, int] | None = None  # engines' largest input; None: build-engine's default (1080p out)
    default_train_steps: int = 100  # when no shipped model exists
    train_budget_min: float = 1.5  # ... and at most this long

    def __post_init__(self) -> None:
        if self.checkpoint is not None and self.train_steps is not None:
            raise UsageError("--checkpoint and --train-steps conflict: use a checkpoint or train one, not both")
        if self.train_steps is not None and self.train_steps < 1:
            raise UsageError(f"--train-steps must be at least 1, got {self.train_steps}")
        if self.frames < 2:
            raise UsageError(f"--frames must be at least 2, got {self.frames}")


@dataclass
class Reporter:
    """How the demo talks: ``step(i, total, text)``, ``info(text)``, and optional progress bars: a context
    manager giving ``build_engine``'s progress factory, entered around each build only (so the bars are
    gone before the stream's own live display starts)."""

    step: Callable[[int, int, str], None] = lambda i, n, text: None
    info: Callable[[str], None] = lambda text: None
    progress: Callable[[], AbstractContextManager[Progress | None]] | None = None


def run_demo(cfg: DemoConfig, ui: Reporter | None = None) -> dict[str, Any]:
    ui = ui or Reporter()
    started = time.perf_counter()
    out = DemoDir.prepare(cfg.out, keep_safe=cfg.checkpoint)
    summary: dict[str, Any] = {"edgesr_version": __version__, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        value = fn()
        timings[name] = round(time.perf_counter() - t0, 2)
        return value

    ckpt, source = timed("model", lambda: _model(cfg, out, ui))
    ui.step(2, STEPS, f"exporting {ckpt.name} to ONNX (parity proof against PyTorch)")
    from edgesr.export.onnx_export import export_onnx

    exported = timed("export", lambda: export_onnx(ckpt, out.add(out.root / "model.onnx")))
    ui.info(f"{exported.path}: {exported.spec.describe()}, worst parity {json_db(exported.parity.worst_psnr_db)} dB")
    summary["model"] = {"source": source, "checkpoint": str(ckpt), "spec": exported.spec.describe()}
    summary["export"] = {"onnx": str(exported.path), "parity_worst_db": json_db(exported.parity.worst_psnr_db)}

    backend = default_backend()
    why = (
        "TensorRT usable here" if backend == "tensorrt"
        else f"TensorRT is not usable here ({backend_entry('tensorrt').probe()}): using ONNX Runtime (CPU)"
    )
    ui.step(3, STEPS, f"building FP16 and INT8 {backend} engines with the accuracy gate ({why})")
    builds = timed("engines", lambda: {p: _build(exported.path, p, backend, cfg, out, ui) for p in ("fp16", "int8")})
    summary["backend"] = {"name": backend, "why": why}
    summary["gates"] = {p: _gate_summary(b) for p, b in builds.items()}

    split, name = CLIP_PHOTO
    (h, w), photo = cfg.lr_size, load_image(samples_dir(split) / name)
    ui.step(4, STEPS, f"making a {cfg.frames}-frame {h}x{w} pan-and-zoom clip of the built-in photo {name}")
    clip = out.add(out.root / "clip.mp4")
    timed("clip", lambda: write_clip(photo, clip, cfg.frames, cfg.lr_size, cfg.fps))

    engine, engine_note = _pick_engine(builds, exported.path)
    ui.step(5, STEPS, f"streaming it through {engine.name} ({engine_note}), checked every {cfg.check_every} frames")
    report = timed("stream", lambda: _stream(engine, clip, out, cfg))
    summary["stream"] = _stream_summary(report, engine, engine_note, clip)

    ui.step(6, STEPS, "comparing bicubic | SR | HR on a held-out built-in photo")
    summary["comparison"] = timed("comparison", lambda: _comparison(engine, out))

    summary["camera"] = timed("camera", lambda: _camera(cfg, out, ui))

    if not cfg.keep and (out.root / "train").is_dir():
        shutil.rmtree(out.root / "train")
        out.files.remove("train")
    summary["timings_s"] = timings
    summary["duration_s"] = round(time.perf_counter() - started, 1)
    summary["artifacts"] = _artifacts(summary, out.root)
    ui.step(8, STEPS, f"summary in {out.root / 'demo.json'}")
    write_json(out.add(out.root / "demo.json"), summary)
    return summary


def _model(cfg: DemoConfig, out: DemoDir, ui: Reporter) -> tuple[Path, str]:
    if cfg.checkpoint is not None:
        ui.step(1, STEPS, f"model: {cfg.checkpoint} (given)")
        if not cfg.checkpoint.is_file():
            raise BadInputError(f"checkpoint not found: {cfg.checkpoint}")
        return cfg.checkpoint, "given checkpoint"
    steps = cfg.train_steps
    if steps is None:
        from edgesr.pretrained import default_checkpoint

        try:
            path = default_checkpoint()
            ui.step(1, STEPS, f"model: the shipped {path.name}")
            return path, "shipped"
        except BadInputError:
            steps = cfg.default_train_steps
            ui.info("this install has no shipped model: training a small one now")
    budget = cfg.train_budget_min if cfg.train_steps is None else None
    limit = f" (at most {budget:g} min)" if budget else ""
    ui.step(1, STEPS, f"model: training edge_s x4 for {steps} steps{limit} on the built-in sample photos")
    from edgesr.train.loop import run_training

    run_dir = out.add(out.root / "train")
    result = run_training(
        {
            "out": str(run_dir), "preset": "edge_s", "scale": 4, "steps": steps, "batch": 16, "crop": 64,
            "time_budget_min": budget, "save_every": steps, "sample_every": steps, "log_every": max(1, steps // 10),
        },
        overwrite=True,
    )
    ckpt = out.add(out.root / "model.pt")
    shutil.copyfile(result.last_checkpoint, ckpt)
    return ckpt, f"trained {result.step} steps on the built-in samples"


def _build(onnx: Path, precision: str, backend: str, cfg: DemoConfig, out: DemoDir, ui: Reporter) -> BuildResult | str:
    build_cfg = BuildConfig.with_defaults(
        onnx=onnx, precision=precision, backend=backend, opt_shape=cfg.lr_size,
        max_shape=cfg.max_shape, calibration=CalibrationConfig(images=cfg.calib_images),
    )
    engine = build_cfg.output  # model.<precision>.engine | .ort.onnx, beside the ONNX
    for name in (engine.name, f"{engine.name}.json", f"{engine.name}.gate.json", f"{engine.name}.gate-failed.json"):
        out.add(out.root / name)
    try:
        with ui.progress() if ui.progress else nullcontext(None) as progress:
            result = build_engine(build_cfg, progress, step=lambda m: ui.info(f"{precision}: {m}"))
    except AccuracyGateError as exc:
        ui.info(f"{precision}: {exc}")
        return str(exc)
    ui.info(f"{precision}: {result.gate.summary()} -> gate passed")
    return result


def _gate_summary(b: BuildResult | str) -> dict[str, Any]:
    if isinstance(b, str):
        return {"passed": False, "error": b}
    g = b.gate
    return {
        "passed": g.passed, "engine": str(b.engine), "report": str(b.report_path), "min_psnr_db": g.min_psnr_db,
        "mean_psnr_db": json_db(g.mean_psnr), "worst_psnr_db": json_db(g.worst.psnr_vs_fp32),
        "y_psnr_drop_db": round(g.mean_y_drop, 4), "images": len(g.images),
        **({"int8_mac_share": g.int8["int8_mac_share"]} if g.int8 else {}),
    }


def _pick_engine(builds: dict[str, BuildResult | str], fp32: Path) -> tuple[Path, str]:
    for precision in ("int8", "fp16"):
        b = builds[precision]
        if not isinstance(b, str):
            return b.engine, f"{precision}, {b.sidecar.backend}"
    return fp32, "fp32 ONNX: both gates refused their engines"


def _stream(engine: Path, clip: Path, out: DemoDir, cfg: DemoConfig) -> StreamReport:
    from edgesr.runtime.check import CheckConfig
    from edgesr.runtime.pipeline import PipelineConfig
    from edgesr.runtime.stream import StreamSettings, run_stream

    video = out.add(out.root / "stream.mp4")
    report = out.add(out.root / "stream.report.json")
    settings = StreamSettings(
        engine=engine, source=str(clip), output=str(video), report=report,
        check=CheckConfig(every=cfg.check_every), pipeline=PipelineConfig(side_by_side=True),
    )
    return run_stream(settings)


def _stream_summary(report: StreamReport, engine: Path, note: str, clip: Path) -> dict[str, Any]:
    psnr = report.psnr
    return {
        "engine": str(engine), "engine_note": note, "input": str(clip), "output": report.output,
        "report": report.report_path, "frames_in": report.frames_in, "frames_out": report.frames_out,
        "fps": report.fps, "steady_fps": report.steady_fps, "infer_p50_ms": report.latency_ms["infer"]["p50"],
        "psnr_checks": psnr["checks"], "psnr_mean_db": psnr["mean_db"], "psnr_worst_db": psnr["worst_db"],
        "end_reason": report.end_reason,
    }


def _comparison(engine: Path, out: DemoDir) -> dict[str, Any]:
    from edgesr.runtime import open_runner

    split, name = COMPARE_PHOTO
    with open_runner(engine) as runner:
        scale = runner.spec.scale
        rgb, gray = read_image(samples_dir(split) / name)
        if runner.profile is not None:  # the centre, if the whole photo is larger than the engine takes
            rgb = centre_crop(rgb, runner.profile.max[0] * scale, runner.profile.max[1] * scale)
        hr = mod_crop(rgb, scale)
        lr = downscale(hr, scale)
        sr = from_nchw(runner.infer(to_nchw(lr)))[0]
        what = f"{runner.precision} {runner.backend}"
    bicubic = upscale_bicubic(lr, scale)
    p_bic = sr_psnr_ssim(bicubic, hr, scale, gray)[0]
    p_sr = sr_psnr_ssim(sr, hr, scale, gray)[0]
    png = out.add(out.root / "comparison.png")
    comparison_png(
        png,
        [(f"bicubic x{scale}: Y-PSNR {p_bic:.2f} dB", bicubic), (f"edgesr {what}: Y-PSNR {p_sr:.2f} dB", sr),
         (f"HR ground truth ({name})", hr)],
    )
    return {
        "png": str(png), "image": name, "hr_size": [hr.shape[0], hr.shape[1]], "lr_size": [lr.shape[0], lr.shape[1]],
        "engine": str(engine), "y_psnr_bicubic_db": round(p_bic, 3), "y_psnr_sr_db": round(p_sr, 3),
    }


def _camera(cfg: DemoConfig, out: DemoDir, ui: Reporter) -> dict[str, Any] | None:
    from edgesr.demo.camera import BITRATE, BLUR, MODELS, NOISE, run_camera_step
    from edgesr.zoo import shipped

    missing = [m for m in MODELS if not shipped(m).path("onnx").is_file()]
    if missing:
        ui.step(7, STEPS, f"camera footage: skipped, this install lacks the shipped {', '.join(missing)}")
        return None
    ui.step(7, STEPS, f"camera footage: a clip with lens blur ({BLUR:g}), sensor noise ({NOISE:g}) and H.264 at "
                      f"{BITRATE // 1000} kbit/s, through edge_s and edge_s_camera")
    result = run_camera_step(out.root, cfg.frames, out.add)
    ui.info("Y-PSNR vs HR: " + ", ".join(f"{k} {v:.2f} dB" for k, v in result["y_psnr_db"].items()))
    return result


def _artifacts(summary: dict[str, Any], root: Path) -> dict[str, str | None]:
    gates = summary["gates"]
    return {
        "checkpoint": summary["model"]["checkpoint"],
        "onnx": summary["export"]["onnx"],
        "fp16_engine": gates["fp16"].get("engine"),
        "int8_engine": gates["int8"].get("engine"),
        "clip": summary["stream"]["input"],
        "stream_video": summary["stream"]["output"],
        "stream_report": summary["stream"]["report"],
        "comparison_png": summary["comparison"]["png"],
        "camera_png": summary["camera"]["png"] if summary.get("camera") else None,
        "summary": str(root / "demo.json"),
    }

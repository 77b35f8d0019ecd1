"""``edgesr build-engine``: FP32 ONNX -> engine with the accuracy gate (``edgesr.export.build``); the
flags become a ``BuildConfig``, which owns the defaults and refuses conflicts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from edgesr.backends import TABLE as BACKEND_TABLE
from edgesr.cli.interrupted import interrupted_note
from edgesr.cli.ui import console, db, progress
from edgesr.errors import UsageError
from edgesr.options import MIN_SIDE, number, shape
from edgesr.paths import output_dir, output_file
from edgesr.precisions import PRECISIONS, from_flags, gate_thresholds

BACKEND_HELP = "; ".join(f"{b.name}: {b.summary}" for b in BACKEND_TABLE if b.builder is not None)


def build_engine(
    onnx: Path = typer.Argument(
        ..., help="FP32 ONNX from `edgesr export`, or a shipped model name (`edgesr models`).", show_default=False
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Engine to write. Default: beside the ONNX."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 engine (weights and compute)."),
    int8: bool = typer.Option(False, "--int8", help="INT8 engine (explicit Q/DQ from calibration images)."),
    precision_name: str | None = typer.Option(
        None, "--precision", help=f"Precision by name: {', '.join(PRECISIONS)} (--fp16/--int8 are shortcuts)."
    ),
    backend: str | None = typer.Option(
        None,
        help=f"{BACKEND_HELP}. Default: tensorrt where it imports, is a supported version and sees a GPU, "
        "else onnxruntime.",
    ),
    min_shape: str | None = typer.Option(None, help="Smallest input HxW. Default 32x32."),
    opt_shape: str | None = typer.Option(None, help="Input HxW to tune for. Default: 720p output (180x320 at x4)."),
    max_shape: str | None = typer.Option(None, help="Largest input HxW. Default: 1080p output (270x480 at x4)."),
    max_batch: int = typer.Option(1, help="Largest batch the engine takes."),
    workspace: int = typer.Option(1024, help="TensorRT builder workspace limit, MiB."),
    timing_cache: Path | None = typer.Option(None, help="TensorRT timing cache file. Default: per TensorRT+GPU."),
    dla_core: int | None = typer.Option(None, help="Build for this DLA core (Jetson), GPU fallback on."),
    calib_data: Path | None = typer.Option(
        None, help="Calibration images (INT8; FP16: where activation ranges are measured). Default: built-in 'train' "
        "samples."
    ),
    calib_images: int | None = typer.Option(None, help="INT8 calibration crops (of the opt shape). Default 32."),
    calib_method: str | None = typer.Option(None, help="percentile (default) | entropy | minmax | mse."),
    calib_mix: str | None = typer.Option(
        None, help="camera (default): a quarter of the calibration crops are synthetic camera frames (OSD text and "
        "logos over your images) | none: the calibration images only."
    ),
    int8_keep: str | None = typer.Option(
        None,
        help="Convs left in float: auto (measured: fewest float MACs that reach the gate + 3 dB; default) "
        "| none | NAME,...: module paths (head, body.0.conv1: the convs under each) or ONNX node names.",
    ),
    check_data: Path | None = typer.Option(None, help="Accuracy-gate images. Default: built-in 'holdout' samples."),
    min_psnr: float | None = typer.Option(None, help=f"Gate threshold vs FP32, dB. Default: {gate_thresholds()}."),
    force: bool = typer.Option(False, "--force", help="Write the engine even if the gate fails (with a warning)."),
    triton_repo: Path | None = typer.Option(
        None, help="Also write a Triton model repository here: NAME/config.pbtxt, NAME/1/model.onnx|plan."
    ),
    triton_name: str | None = typer.Option(None, help="Triton model name. Default: the engine's file stem."),
    triton_shape: str | None = typer.Option(
        None, help="Fixed LR HxW in the Triton config (Triton batches only same-shape requests). Default: dynamic."
    ),
    triton_instance: str = typer.Option("gpu", help="Triton instance group kind: gpu | cpu."),
) -> None:
    """Build a TensorRT or ONNX Runtime engine (FP32/FP16/INT8) with an accuracy gate and a sidecar."""
    from dataclasses import replace

    from edgesr.artifact import sidecar_path
    from edgesr.export.build import BuildConfig
    from edgesr.export.build import build_engine as run_build
    from edgesr.export.calibration import CalibrationConfig

    precision = from_flags({"--fp16": fp16, "--int8": int8}, precision_name)  # two different ones conflict
    int8_only = {
        "--calib-data": calib_data,
        "--calib-images": calib_images,
        "--calib-method": calib_method,
        "--calib-mix": calib_mix,
        "--int8-keep": int8_keep,
    }
    for flag, text in (("--int8-keep", int8_keep), ("--calib-method", calib_method)):
        if text is not None and not text.replace(",", "").strip():  # '' or ',,,' never means the default
            raise UsageError(f"{flag} is empty: give a value, or leave the option out for the default")
    number(max_batch, "--max-batch", 1, 256)
    number(workspace, "--workspace (MiB)", 1, 1 << 20)
    number(dla_core, "--dla-core", 0, 15)
    number(calib_images, "--calib-images", 1, 100_000)
    number(min_psnr, "--min-psnr (dB)", 0, 200)
    shapes = {name: shape(v, f"--{name}-shape", MIN_SIDE) if v else None
              for name, v in (("min", min_shape), ("opt", opt_shape), ("max", max_shape))}
    calib = CalibrationConfig()
    calib = replace(
        calib,
        data=str(calib_data) if calib_data else None,
        images=calib_images if calib_images is not None else calib.images,
        method=calib_method or calib.method,
        mix=calib_mix or calib.mix,
    )
    from edgesr.zoo import resolve

    named = not onnx.exists()  # a shipped model's name (resolve refuses anything else)
    onnx = resolve(onnx, "onnx", "ONNX")
    cfg = BuildConfig.with_defaults(  # the default backend and output name; conflicting flags refused
        onnx=onnx,
        output=output,
        precision=precision,
        backend=backend,
        min_shape=shapes["min"],
        opt_shape=shapes["opt"],
        max_shape=shapes["max"],
        max_batch=max_batch,
        calibration=calib,
        int8_keep=int8_keep or "auto",
        check_data=str(check_data) if check_data else None,
        min_psnr_db=min_psnr,
        force=force,
        workspace_mib=workspace,
        timing_cache=timing_cache,
        dla_core=dla_core,
        int8_flags=tuple(flag for flag, value in int8_only.items()  # FP16 measures its ranges on --calib-data too
                         if value is not None and not (fp16 and flag == "--calib-data")),
    )
    if named and output is None:  # build into the current folder, not into the installed package
        cfg = replace(cfg, output=Path(cfg.output.name))
    out = output_file(cfg.output, "--output", inputs=(onnx, calib_data, check_data))
    triton = _triton_options(triton_repo, triton_name, triton_shape, triton_instance, out)
    if timing_cache is not None:
        output_file(timing_cache, "--timing-cache", inputs=(onnx, out))
    cfg = replace(cfg, output=out)
    with progress(console) as bars, interrupted_note("build-engine", [out, sidecar_path(out)]):
        result = run_build(cfg, bars, step=lambda msg: console.print(msg, markup=False))  # TensorRT says "[...]"
    _print_gate(result)
    if triton_repo is not None and triton is not None:
        from edgesr.export.triton_repo import check_config, write_triton_repo

        folder = write_triton_repo(result.engine, triton_repo, triton)
        checked = check_config((folder / "config.pbtxt").read_text())
        console.print(
            f"Triton repository: [bold]{folder}[/bold] (config.pbtxt"
            f"{', checked against Triton' + chr(39) + 's model config' if checked else ''}); serve it with "
            f"`tritonserver --model-repository {triton_repo}`, stream with --engine triton://HOST:8001/{folder.name}"
        )


def _triton_options(repo: Path | None, name: str | None, hw: str | None, instance: str, engine: Path):  # type: ignore[no-untyped-def]
    """The Triton flags, checked before any build work; the model folder must not exist yet."""
    if repo is None:
        given = [f for f, v in (("--triton-name", name), ("--triton-shape", hw)) if v is not None]
        if instance != "gpu":
            given.append("--triton-instance")
        if given:
            raise UsageError(f"{', '.join(given)} need --triton-repo DIR")
        return None
    from edgesr.export.triton_repo import TritonModelOptions, model_name

    opts = TritonModelOptions(name=name, shape=shape(hw, "--triton-shape", MIN_SIDE) if hw else None,
                              instance=instance)
    output_dir(repo, "--triton-repo", inputs=(engine,))
    if (repo / model_name(engine, name)).exists():
        raise UsageError(f"{repo / model_name(engine, name)} exists: pass another --triton-name, or remove it first")
    return opts


def _print_int8(rec: dict) -> None:  # type: ignore[type-arg]
    keep = rec.get("keep_float_short", rec["keep_float"])
    console.print(
        f"INT8: {100 * rec['int8_mac_share']:.1f}% of {rec['total_gmacs']} GMACs "
        f"({rec['macs_at_input']} input) in INT8; "
        f"float convs ({rec['keep_mode']}): {', '.join(keep) if isinstance(keep, list) else keep}; "
        f"calibration {rec['calibration_method']}{_crops(rec.get('calibration_crops'))}"
    )
    search = rec.get("search")
    if search:
        console.print(
            f"sensitivity search ({search['crops']}, {search['evaluations']} exact Q/DQ evaluations): worst crop "
            f"{search['worst_psnr_db']:.2f} dB vs target {search['target_worst_psnr_db']:g} dB"
            + ("" if search["reached"] else " [bold yellow](target not reached)[/bold yellow]")
        )


def _crops(crops: dict | None) -> str:  # type: ignore[type-arg]
    """' on 32 crops of 32x48 (2 images, 8 synthetic frames; 1 smaller than the crop skipped)'"""
    if not crops:
        return ""
    skipped = len(crops["skipped_smaller_than_crop"])
    return (f" on {crops['count']} crops of {crops['shape'][0]}x{crops['shape'][1]} ({crops['photos']} images, "
            f"{crops['synthetic_frames']} synthetic frames" + (f"; {skipped} smaller than the crop skipped" if skipped
                                                               else "") + ")")


def _print_gate(result) -> None:  # type: ignore[no-untyped-def]
    gate, sc = result.gate, result.sidecar
    table = Table(title=f"accuracy gate: {gate.precision} vs FP32 ({gate.check_data})")
    for col in ("image", "LR", "PSNR vs FP32", "Y-PSNR FP32", f"Y-PSNR {gate.precision}", "drop"):
        table.add_column(col, justify="right" if col != "image" else "left")
    for r in gate.images:
        table.add_row(
            r.name,
            f"{r.lr_hw[0]}x{r.lr_hw[1]}",
            db(r.psnr_vs_fp32, unit=""),
            f"{r.y_psnr_fp32:.2f}",
            f"{r.y_psnr_variant:.2f}",
            f"{r.y_drop:+.3f}",
        )
    console.print(table)
    if gate.skipped:
        console.print(f"skipped (smaller than the min shape): {', '.join(gate.skipped)}")
    console.print(gate.summary())
    if gate.int8:
        _print_int8(gate.int8)
    exact = gate.to_dict().get("exact_qdq")
    if exact:
        console.print(
            f"same INT8 file with exact Q/DQ arithmetic (as on GPU/TensorRT): mean {exact['mean_psnr_db']} dB, "
            f"worst {exact['worst_psnr_db']} dB vs FP32, Y-PSNR drop {exact['mean_y_drop_db']:+.3f} dB "
            "(the gate above is ONNX Runtime's CPU kernels on this machine"
            + ("" if sc.device.get("cpu_vnni") is not False else ", no VNNI: 8-bit dot products can saturate")
            + ")"
        )
    if gate.forced:
        console.print(
            f"[bold yellow]warning:[/bold yellow] gate failed (< {gate.min_psnr_db:g} dB) and --force "
            "wrote the engine anyway"
        )
    layers = sc.engine_facts.get("layers")
    if layers:
        dla = sc.device.get("dla_core") is not None
        where = f"; {layers['on_dla']} on DLA, {layers['on_gpu']} on GPU" if dla else ""
        console.print(
            f"layers (engine inspector): {layers['count']}: "
            + ", ".join(f"{n} {p}" for p, n in layers["precisions"].items()) + where
        )
    for warning in sc.engine_facts.get("warnings", []):
        console.print(f"[bold yellow]warning:[/bold yellow] {warning}")
    if result.calibration_reused is not None:
        console.print(f"calibration: {'reused cached ranges' if result.calibration_reused else 'computed and cached'}")
    opt = sc.engine_facts.get("optimisation")
    if opt:
        console.print(f"ONNX Runtime offline optimisation: {opt}")
    console.print(
        f"[bold]{result.engine}[/bold] ({sc.backend} {sc.backend_version}, {sc.precision}, input "
        f"{sc.profile.describe()}); sidecar {result.engine.name}.json, report {result.report_path.name}, "
        f"reference {sc.reference_onnx}"
    )

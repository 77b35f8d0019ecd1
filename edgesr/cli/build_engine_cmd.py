"""``edgesr build-engine``: FP32 ONNX -> engine with the accuracy gate (``edgesr.export.build``); the
flags become a ``BuildConfig``, which owns the defaults and refuses conflicts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from edgesr.cli.interrupted import interrupted_note
from edgesr.cli.ui import console, db, progress
from edgesr.errors import UsageError
from edgesr.options import MIN_SIDE, number, shape
from edgesr.paths import output_file


def build_engine(
    onnx: Path = typer.Argument(
        ..., help="FP32 ONNX from `edgesr export`, or a shipped model name (`edgesr models`).", show_default=False
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Engine to write. Default: beside the ONNX."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 engine (weights and compute)."),
    int8: bool = typer.Option(False, "--int8", help="INT8 engine (explicit Q/DQ from calibration images)."),
    backend: str | None = typer.Option(
        None,
        help="tensorrt | onnxruntime | onnx (with --int8: the portable TensorRT-form Q/DQ ONNX and its gate "
        "report, no TensorRT needed; build it on the device with --backend tensorrt or trtexec). "
        "Default: tensorrt where it imports, else onnxruntime.",
    ),
    min_shape: str | None = typer.Option(None, help="Smallest input HxW. Default 32x32."),
    opt_shape: str | None = typer.Option(None, help="Input HxW to tune for. Default: 720p output (180x320 at x4)."),
    max_shape: str | None = typer.Option(None, help="Largest input HxW. Default: 1080p output (270x480 at x4)."),
    max_batch: int = typer.Option(1, help="Largest batch the engine takes."),
    workspace: int = typer.Option(1024, help="TensorRT builder workspace limit, MiB."),
    timing_cache: Path | None = typer.Option(None, help="TensorRT timing cache file. Default: per TensorRT+GPU."),
    dla_core: int | None = typer.Option(None, help="Build for this DLA core (Jetson), GPU fallback on."),
    calib_data: Path | None = typer.Option(None, help="INT8 calibration images. Default: built-in 'train' samples."),
    calib_images: int | None = typer.Option(None, help="INT8 calibration crops (of the opt shape). Default 32."),
    calib_method: str | None = typer.Option(None, help="percentile (default) | entropy | minmax | mse."),
    int8_keep: str | None = typer.Option(
        None,
        help="Convs left in float: auto (measured: fewest float MACs that reach the gate + 3 dB; default) "
        "| none | CONV,...",
    ),
    check_data: Path | None = typer.Option(None, help="Accuracy-gate images. Default: built-in 'holdout' samples."),
    min_psnr: float | None = typer.Option(None, help="Gate threshold vs FP32, dB. Default: 50 (fp16/fp32), 42 (int8)."),
    force: bool = typer.Option(False, "--force", help="Write the engine even if the gate fails (with a warning)."),
) -> None:
    """Build a TensorRT or ONNX Runtime engine (FP32/FP16/INT8) with an accuracy gate and a sidecar."""
    from dataclasses import replace

    from edgesr.artifact import sidecar_path
    from edgesr.export.build import BuildConfig
    from edgesr.export.build import build_engine as run_build
    from edgesr.export.calibration import CalibrationConfig

    if fp16 and int8:
        raise UsageError("--fp16 and --int8 conflict: choose one precision")
    int8_only = {
        "--calib-data": calib_data,
        "--calib-images": calib_images,
        "--calib-method": calib_method,
        "--int8-keep": int8_keep,
    }
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
    )
    from edgesr.zoo import resolve

    named = not onnx.exists()  # a shipped model's name (resolve refuses anything else)
    onnx = resolve(onnx, "onnx", "ONNX")
    cfg = BuildConfig.with_defaults(  # the default backend and output name; conflicting flags refused
        onnx=onnx,
        output=output,
        precision="fp16" if fp16 else "int8" if int8 else "fp32",
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
        int8_flags=tuple(flag for flag, value in int8_only.items() if value is not None),
    )
    if named and output is None:  # build into the current folder, not into the installed package
        cfg = replace(cfg, output=Path(cfg.output.name))
    out = output_file(cfg.output, "--output", inputs=(onnx, calib_data, check_data))
    if timing_cache is not None:
        output_file(timing_cache, "--timing-cache", inputs=(onnx, out))
    cfg = replace(cfg, output=out)
    with progress(console) as bars, interrupted_note("build-engine", [out, sidecar_path(out)]):
        result = run_build(cfg, bars, step=lambda msg: console.print(msg))
    _print_gate(result)


def _print_int8(rec: dict) -> None:  # type: ignore[type-arg]
    keep = rec["keep_float"]
    console.print(
        f"INT8: {100 * rec['int8_mac_share']:.1f}% of {rec['total_gmacs']} GMACs "
        f"({rec['macs_at_input']} input) in INT8; "
        f"float convs ({rec['keep_mode']}): {', '.join(keep) if isinstance(keep, list) else keep}; "
        f"calibration {rec['calibration_method']}"
    )
    search = rec.get("search")
    if search:
        console.print(
            f"sensitivity search ({search['crops']}, {search['evaluations']} exact Q/DQ evaluations): worst crop "
            f"{search['worst_psnr_db']:.2f} dB vs target {search['target_worst_psnr_db']:g} dB"
            + ("" if search["reached"] else " [bold yellow](target not reached)[/bold yellow]")
        )


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
    for warning in sc.build.get("engine", {}).get("warnings", []):
        console.print(f"[bold yellow]warning:[/bold yellow] {warning}")
    if result.calibration_reused is not None:
        console.print(f"calibration: {'reused cached ranges' if result.calibration_reused else 'computed and cached'}")
    opt = sc.build.get("engine", {}).get("optimisation")
    if opt:
        console.print(f"ONNX Runtime offline optimisation: {opt}")
    console.print(
        f"[bold]{result.engine}[/bold] ({sc.backend} {sc.backend_version}, {sc.precision}, input "
        f"{sc.profile.describe()}); sidecar {result.engine.name}.json, report {result.report_path.name}, "
        f"reference {sc.reference_onnx}"
    )

"""``edgesr bench``: every backend and precision available here for one model, as a table, JSON,
CSV and a PNG chart (``edgesr.bench.run``). Torch is optional: without it the engine rows still run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from edgesr.cli.ui import make_console
from edgesr.options import number, shape
from edgesr.paths import output_dir
from edgesr.precisions import PRECISIONS as ENGINE_PRECISIONS

console = make_console(wide_logs=True)


def _csv(text: str | None) -> tuple[str, ...] | None:
    return tuple(t.strip().lower() for t in text.split(",") if t.strip()) if text else None


def bench(
    model: Path | None = typer.Option(
        None, "--model", "-m",
        help="Checkpoint (.pt), FP32 ONNX from `edgesr export`, or a shipped model name (`edgesr models`). "
        "Default: the shipped edge_s."
    ),
    sizes: str | None = typer.Option(
        None, help="LR input sizes HxW, comma-separated. Default: 64x64 and the inputs for 720p and 1080p output."
    ),
    backends: str | None = typer.Option(
        None, help="Subset of pytorch (the checkpoint under torch) and the engine backends. Default: all."
    ),
    precisions: str | None = typer.Option(
        None, help=f"Subset of {','.join(ENGINE_PRECISIONS)} and bf16 (pytorch only). Default: all."
    ),
    warmup: int = typer.Option(2, help="Untimed runs per row and size."),
    runs: int = typer.Option(10, help="Timed runs per row and size (median and p95 of these)."),
    out: Path = typer.Option(Path("edgesr-bench"), "--out", "-o", help="Folder for bench.json/.csv/.png and variants."),
    calib_images: int = typer.Option(32, help="INT8 calibration crops (built-in samples)."),
    threads: int | None = typer.Option(None, help="ONNX Runtime intra-op threads. Default: ONNX Runtime's."),
    engine: list[str] | None = typer.Option(
        None, "--engine", "-e",
        help="Also measure this engine of the same model: a built engine or a Triton model triton://HOST:PORT/NAME "
        "(repeatable).",
    ),
) -> None:
    """Benchmark a model on every available backend and precision: latency, fps, GFLOP/s, memory, PSNR vs FP32."""
    from edgesr.bench.report import print_result
    from edgesr.bench.rows import BACKENDS, PRECISIONS
    from edgesr.bench.run import BenchConfig, run_bench

    number(warmup, "--warmup", 0, 10_000)
    number(runs, "--runs", 1, 100_000)
    number(calib_images, "--calib-images", 1, 100_000)
    number(threads, "--threads", 1, 1024)
    if model is not None:
        from edgesr.zoo import resolve

        model = resolve(model, "auto", "--model")
    output_dir(out, "--out", inputs=(model,))
    cfg = BenchConfig(
        model=model,
        sizes=tuple(shape(s, "--sizes") for s in _csv(sizes) or ()) or None,
        backends=_csv(backends) or BACKENDS,
        precisions=_csv(precisions) or PRECISIONS,
        warmup=warmup,
        runs=runs,
        out=out,
        calib_images=calib_images,
        threads=threads,
        engines=tuple(engine or ()),
    )
    if console.is_terminal:
        with console.status("edgesr bench") as status:
            result = run_bench(cfg, say=lambda msg: status.update(f"edgesr bench: {escape(msg)}"))
    else:  # logs: one line per step
        result = run_bench(cfg, say=lambda msg: console.print(f"edgesr bench: {msg}", markup=False, highlight=False))
    print_result(result, console)
    if result.interrupted:
        raise typer.Exit(130)

"""``edgesr demo``: model -> ONNX -> FP16/INT8 engines with the accuracy gate -> a live stream with
PSNR checks -> a comparison picture, on the built-in samples (``edgesr.demo.run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from edgesr.cli.ui import db, make_console, progress
from edgesr.options import number
from edgesr.paths import output_dir

console = make_console(wide_logs=True)


def demo(
    out: Path = typer.Option(Path("edgesr-demo"), "--out", "-o", help="Folder for everything the demo makes."),
    train_steps: int | None = typer.Option(
        None, help="Train a small edge_s model for this many steps instead of using the shipped one."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--model", "-m", "--checkpoint", "-c",
        help="Use this model: edgesr checkpoint or an imported model file (.pth .pt .ckpt .safetensors). "
        "Default: the shipped model, else a short run.",
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the training run folder (logs, sample grids, optimiser)."),
    frames: int = typer.Option(60, help="Frames in the demo clip."),
) -> None:
    """Run the whole toolkit once on built-in photos: export, FP16/INT8 engines, a stream, a comparison PNG."""
    from edgesr.demo.run import DemoConfig, Reporter, run_demo

    number(train_steps, "--train-steps", 1, 10_000_000)
    number(frames, "--frames", 1, 100_000)
    if checkpoint is not None:
        from edgesr.zoo import resolve

        checkpoint = resolve(checkpoint, "pt", "--checkpoint")
    output_dir(out, "--out", inputs=(checkpoint,))
    cfg = DemoConfig(out=out, checkpoint=checkpoint, train_steps=train_steps, keep=keep, frames=frames)
    ui = Reporter(
        step=lambda i, n, text: console.print(f"[bold cyan][{i}/{n}][/bold cyan] {escape(text)}"),
        info=lambda text: console.print(f"      {escape(text)}", highlight=False),
        progress=progress,
    )
    summary = run_demo(cfg, ui)
    console.print(summary_table(summary))


def summary_table(s: dict[str, Any]) -> Table:
    table = Table(title=f"edgesr demo: done in {s['duration_s']:.0f} s", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("result")
    table.add_column("file", overflow="fold")
    table.add_row("model", f"{s['model']['spec']} ({s['model']['source']})", s["model"]["checkpoint"])
    table.add_row("ONNX export", f"parity vs PyTorch: worst {db(s['export']['parity_worst_db'])}", s["export"]["onnx"])
    backend = s["backend"]
    for precision, g in s["gates"].items():
        if g["passed"]:
            text = (f"{backend['name']}: gate passed, vs FP32 mean {db(g['mean_psnr_db'])}, worst "
                    f"{db(g['worst_psnr_db'])} (min {g['min_psnr_db']:g}); Y-PSNR drop {g['y_psnr_drop_db']:+.3f} dB"
                    + (f"; {100 * g['int8_mac_share']:.0f}% of MACs in INT8" if "int8_mac_share" in g else ""))
            table.add_row(f"{precision} engine", text, g["engine"])
        else:
            table.add_row(f"{precision} engine", f"[red]refused by the gate[/red]: {escape(g['error'])}", "")
    st = s["stream"]
    table.add_row(
        "stream",
        f"{st['frames_out']}/{st['frames_in']} frames through {st['engine_note']} at {st['fps']:.2f} fps "
        f"(infer p50 {st['infer_p50_ms']:.0f} ms); PSNR vs FP32 mean {db(st['psnr_mean_db'])}, worst "
        f"{db(st['psnr_worst_db'])} over {st['psnr_checks']} checks",
        f"{st['output']} (bicubic | SR)\n{st['report']}\ninput: {st['input']}",
    )
    c = s["comparison"]
    table.add_row(
        "comparison",
        f"{c['image']} x4: bicubic {c['y_psnr_bicubic_db']:.2f} dB, SR {c['y_psnr_sr_db']:.2f} dB (Y-PSNR vs HR)",
        c["png"],
    )
    cam = s.get("camera")
    if cam:
        scores = ", ".join(f"{k} {v:.2f} dB" for k, v in cam["y_psnr_db"].items())
        what = f"blur {cam['blur_sigma']:g} + noise {cam['noise_sigma']:g} + H.264 at {cam['bitrate'] // 1000} kbit/s"
        table.add_row("camera footage", f"{what}, Y-PSNR vs HR: {scores}",
                      f"{cam['png']}\ninput: {cam['clip']}")
    table.add_row("summary", escape(backend["why"]), s["artifacts"]["summary"])
    return table

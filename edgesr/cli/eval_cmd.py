"""``edgesr eval``: Y-PSNR / SSIM of a model or the bicubic baseline on HR images (``edgesr.train.evaluate``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgesr.cli import params
from edgesr.errors import UsageError
from edgesr.options import DEVICES, SCALES, choice
from edgesr.paths import output_dir, output_file


def evaluate(
    checkpoint: Path | None = params.CHECKPOINT,
    data: Path = typer.Option(..., "--data", help="Folder of HR images (e.g. Set5)."),
    scale: int | None = typer.Option(None, help="Scale [the checkpoint's; 4 for --bicubic]."),
    bicubic: bool = typer.Option(False, "--bicubic", help="Evaluate the bicubic baseline instead of a model."),
    save_images: Path | None = typer.Option(None, "--save-images", help="Write the upscaled images here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the per-image and mean scores as JSON."),
    degrade: str | None = typer.Option(
        None, "--degrade", help="Score on a fixed, seeded camera-like degradation instead of the clean downscale: "
        "stages blur=SIGMA (HR px), noise=SIGMA (8-bit levels), jpeg=QUALITY, h264=CRF, seed=N; they run in the "
        "order blur, downscale, noise, jpeg, h264. E.g. blur=1.0,noise=5,jpeg=60.",
    ),
    device: str = params.DEVICE,
) -> None:
    """Y-channel PSNR / SSIM (SR-paper convention) per image and mean; --degrade for camera-like input."""
    from rich.console import Console
    from rich.table import Table

    from edgesr.artifact import write_json
    from edgesr.metrics import min_eval_lr
    from edgesr.train.data import load_pairs
    from edgesr.train.evaluate import bicubic_upscaler, evaluate_pairs

    if bicubic and checkpoint is not None:
        raise UsageError("--bicubic evaluates the baseline: drop --checkpoint (or --bicubic)")
    from edgesr.degrade import degrade_pairs, parse_degrade

    degradation = parse_degrade(degrade) if degrade is not None else None
    choice(scale, "--scale", SCALES)
    choice(device, "--device", DEVICES)
    if save_images is not None:
        output_dir(save_images, "--save-images", inputs=(data,))
    if json_out is not None:
        output_file(json_out, "--json", inputs=(data, checkpoint))
    console = Console()
    warn = lambda m: console.print(f"[yellow]warning:[/] {m}", highlight=False)  # noqa: E731
    if bicubic:
        s = scale or 4
        upscaler, method = bicubic_upscaler(s), "bicubic"
    else:
        from edgesr.train.checkpoint import load_generator
        from edgesr.train.distributed import pick_device
        from edgesr.train.infer import upscale_image
        from edgesr.zoo import resolve

        ckpt = resolve(checkpoint, "pt", "--checkpoint")
        model = load_generator(ckpt, expect_scale=scale).to(pick_device(device))
        s, method = model.spec.scale, model.spec.preset
        upscaler = lambda lr: upscale_image(model, lr)  # noqa: E731
    pairs = load_pairs(data, s, min_lr=min_eval_lr(s), warn=warn, role="evaluation")
    if degradation is not None:
        pairs = degrade_pairs(pairs, s, degradation)
    result = evaluate_pairs(pairs, upscaler, s, method, data=str(data), save_dir=save_images)
    on = f"{data}, degraded {degradation.describe()}" if degradation is not None else str(data)
    table = Table(title=f"{method} x{s} on {on}")
    for col in ("image", "size", "PSNR-Y (dB)", "SSIM-Y"):
        table.add_column(col, justify="left" if col == "image" else "right")
    for img in result.images:
        table.add_row(img.name, f"{img.size[1]}x{img.size[0]}", f"{img.psnr:.2f}", f"{img.ssim:.4f}")
    table.add_row("[bold]mean", "", f"[bold]{result.mean_psnr:.2f}", f"[bold]{result.mean_ssim:.4f}")
    console.print(table)
    if json_out is not None:
        write_json(json_out, result.to_dict())
    else:
        typer.echo(json.dumps({"method": method, "scale": s, "mean_psnr": round(result.mean_psnr, 4),
                               "mean_ssim": round(result.mean_ssim, 5),
                               "degrade": degradation.describe() if degradation is not None else None}))

"""``edgesr eval``: Y-PSNR / SSIM of a model or the bicubic baseline on HR images (``edgesr.train.evaluate``).

``--model`` (alias ``--checkpoint``) takes any artifact: an edgesr checkpoint, an imported model file, an ONNX
file or an FP16/INT8 engine (``edgesr.cli.model_arg``), so a user scores what they deploy on their own data."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgesr.cli import params
from edgesr.cli.model_arg import MODEL
from edgesr.errors import UsageError
from edgesr.options import DEVICES, SCALES, choice
from edgesr.paths import output_dir, output_file


def evaluate(
    checkpoint: str | None = MODEL,
    data: Path = typer.Option(..., "--data", help="Folder of HR images (e.g. Set5)."),
    lr_data: Path | None = typer.Option(
        None, "--lr-data", help="Folder of the model's inputs, matched by file name to --data (pairs as two "
        "folders). Default: bicubic x1/scale of --data; for scale-1 models, --data with Gaussian noise."
    ),
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
        raise UsageError("--bicubic evaluates the baseline: drop --model (or --bicubic)")
    if degrade is not None and lr_data is not None:
        raise UsageError("--degrade makes the inputs from --data: drop --lr-data (or --degrade)")
    from edgesr.degrade import degrade_pairs, parse_degrade

    degradation = parse_degrade(degrade) if degrade is not None else None
    choice(scale, "--scale", (1, *SCALES, 8))
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
        from edgesr.cli.model_arg import open_model
        from edgesr.imageops import from_nchw, to_nchw
        from edgesr.runtime.tiling import Tiler

        runner = open_model(checkpoint, device, expect_scale=scale)
        spec = runner.spec
        s = spec.scale
        method = spec.preset if not spec.imported else spec.arch
        if runner.backend != "pytorch":
            method = f"{method} {runner.precision} {runner.backend}"
        tiler = Tiler(runner)  # an engine's shape range: larger images go through in tiles
        upscaler = lambda lr: from_nchw(tiler.infer(to_nchw(lr)))[0]  # noqa: E731
    if lr_data is not None:
        from edgesr.restoration_pairs import folder_pairs

        pairs = folder_pairs(data, lr_data, s)
        console.print(f"pairs: inputs from {lr_data}, ground truth from {data}", highlight=False)
    elif degradation is not None:  # a fixed, seeded camera-like degradation of the HR images
        pairs = degrade_pairs(load_pairs(data, s, min_lr=min_eval_lr(s), warn=warn, role="evaluation"), s, degradation)
    elif s == 1:
        from edgesr.restoration_pairs import noise_text, noisy_pairs

        pairs = noisy_pairs(data)
        console.print(f"scale 1: input = {noise_text()} (or give --lr-data)", highlight=False)
    else:
        pairs = load_pairs(data, s, min_lr=min_eval_lr(s), warn=warn, role="evaluation")
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

"""``edgesr train``, ``edgesr eval``, ``edgesr upscale``: thin commands over ``edgesr.train``.

Torch is imported inside the command functions only (``edgesr --help`` stays torch-free).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgesr.cli.interrupted import interrupted_note
from edgesr.errors import EdgeSRError, UsageError
from edgesr.options import DEVICES, MAX_SIDE, MIN_TILE, SCALES, choice, number
from edgesr.paths import output_dir, output_file

_TRAIN_FLAGS = (
    "out", "phase", "data", "val", "preset", "image_skip", "scale", "steps", "batch", "crop", "schedule", "loss", "lr",
    "decay",
    "time_budget_min", "content", "adv_weight", "vgg_weights", "init", "weight_init", "amp", "device", "seed",
    "save_every", "sample_every", "val_every", "log_every",
)


def train(
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory [default: runs/edgesr]."),
    phase: str | None = typer.Option(None, help="srresnet (pixel loss) or srgan (VGG content + adversarial)."),
    data: list[str] | None = typer.Option(
        None, help="Training images: a folder, image or list file; repeat for several [default: built-in photos]."
    ),
    val: str | None = typer.Option(None, help="Folder of validation images (Y-PSNR every --val-every steps)."),
    preset: str | None = typer.Option(None, help="Model preset: srresnet, edge_m, edge_s, edge_xs [edge_s]."),
    image_skip: str | None = typer.Option(
        None, help="Edge presets: add the upsampled input to the output: none, nearest or bicubic [none]."
    ),
    scale: int | None = typer.Option(None, help="Upscaling factor: 2, 3 or 4 [4]."),
    steps: int | None = typer.Option(None, help="Optimisation steps [1000]."),
    batch: int | None = typer.Option(None, help="Batch per process [16]."),
    crop: int | None = typer.Option(None, help="HR crop side in pixels [96]."),
    schedule: str | None = typer.Option(None, help="fast (L1, lr 1e-3 cosine; CPU/short runs) or paper [fast]."),
    loss: str | None = typer.Option(None, help="Pixel loss l1 or mse [from --schedule]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [from --schedule]."),
    decay: str | None = typer.Option(None, help="lr decay: cosine, step (x0.1 at half), none [from --schedule]."),
    time_budget_min: float | None = typer.Option(
        None, "--time-budget", help="Minutes; the run ends at --steps or this, whichever first; lr decays over it."
    ),
    content: str | None = typer.Option(None, help="SRGAN content loss: vgg22, vgg54 or pixel [vgg54]."),
    adv_weight: float | None = typer.Option(None, help="SRGAN adversarial loss weight [1e-3]."),
    vgg_weights: str | None = typer.Option(None, help="torchvision vgg19 state dict file (offline machines)."),
    init: str | None = typer.Option(None, help="Initialise the generator from this checkpoint (SRGAN: required)."),
    weight_init: str | None = typer.Option(
        None, help="Without --init: interp (start as a smooth upsampler; faster short runs) or default [interp]."
    ),
    amp: str | None = typer.Option(None, help="auto, bf16 or off [auto: bf16 where the hardware has it]."),
    device: str | None = typer.Option(None, help="auto, cpu or cuda [auto]."),
    seed: int | None = typer.Option(None, help="Random seed [0]."),
    save_every: int | None = typer.Option(None, help="Write last.pt every N steps [500]."),
    sample_every: int | None = typer.Option(None, help="Write a bicubic|SR|HR PNG every N steps [500]."),
    val_every: int | None = typer.Option(None, help="Validate every N steps [500]."),
    log_every: int | None = typer.Option(None, help="Log losses every N steps [50]."),
    config: Path | None = typer.Option(None, "--config", help="TOML file of these settings (flags win)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run files in a non-empty --out."),
) -> None:
    """Train SRResNet (pixel loss) or SRGAN (from an SRResNet checkpoint).

    Multi-GPU / multi-process: torchrun --nproc_per_node=N -m edgesr train ...
    """
    from edgesr.train.loop import run_training

    values = locals()
    overrides = {k: values[k] for k in _TRAIN_FLAGS}
    overrides["data"] = list(data) if data else None
    result = run_training(overrides, config_file=config, resume=resume, overwrite=overwrite)
    if result.finished:
        best = f", best validation Y-PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
        typer.echo(f"done: {result.step} steps{best}; checkpoint {result.last_checkpoint}", err=True)
        return
    typer.echo(
        f"stopped at step {result.step}; checkpoint saved to {result.last_checkpoint}. "
        f"Resume with: edgesr train --resume --out {result.run_dir}",
        err=True,
    )
    raise typer.Exit(130)


def evaluate(
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", help="Checkpoint [default: shipped model]."),
    data: Path = typer.Option(..., "--data", help="Folder of HR images (e.g. Set5)."),
    scale: int | None = typer.Option(None, help="Scale [the checkpoint's; 4 for --bicubic]."),
    bicubic: bool = typer.Option(False, "--bicubic", help="Evaluate the bicubic baseline instead of a model."),
    save_images: Path | None = typer.Option(None, "--save-images", help="Write the upscaled images here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the per-image and mean scores as JSON."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Y-channel PSNR / SSIM (SR-paper convention) per image and mean."""
    from rich.console import Console
    from rich.table import Table

    from edgesr.artifact import write_json
    from edgesr.metrics import min_eval_lr
    from edgesr.train.data import load_pairs
    from edgesr.train.evaluate import bicubic_upscaler, evaluate_pairs

    if bicubic and checkpoint is not None:
        raise UsageError("--bicubic evaluates the baseline: drop --checkpoint (or --bicubic)")
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
        from edgesr.pretrained import default_checkpoint
        from edgesr.train.checkpoint import load_generator
        from edgesr.train.distributed import pick_device
        from edgesr.train.infer import upscale_image

        ckpt = checkpoint or default_checkpoint()
        model = load_generator(ckpt, expect_scale=scale).to(pick_device(device))
        s, method = model.spec.scale, model.spec.preset
        upscaler = lambda lr: upscale_image(model, lr)  # noqa: E731
    pairs = load_pairs(data, s, min_lr=min_eval_lr(s), warn=warn, role="evaluation")
    result = evaluate_pairs(pairs, upscaler, s, method, data=str(data), save_dir=save_images)
    table = Table(title=f"{method} x{s} on {data}")
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
                               "mean_ssim": round(result.mean_ssim, 5)}))


def upscale(
    image: Path = typer.Argument(..., help="Input image (png, jpg, bmp, webp, ...)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output image (.png recommended)."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", help="Checkpoint [default: shipped model]."),
    tile: int = typer.Option(256, help="Tile side in input pixels for large images (0: no tiling)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Upscale one image with a trained model."""
    if tile != 0:
        number(tile, "--tile (0: no tiling)", MIN_TILE, MAX_SIDE)
    choice(device, "--device", DEVICES)
    output_file(output, "--output", inputs=(image, checkpoint))
    from edgesr.imageops import image_format

    try:
        image_format(output)
    except EdgeSRError as exc:
        raise UsageError(f"--output {exc}") from None
    with interrupted_note("upscale", [output]):
        from edgesr.imageops import load_image, save_image
        from edgesr.pretrained import default_checkpoint
        from edgesr.train.checkpoint import load_generator
        from edgesr.train.distributed import pick_device
        from edgesr.train.infer import upscale_image

        lr = load_image(image)
        model = load_generator(checkpoint or default_checkpoint()).to(pick_device(device))
        sr = upscale_image(model, lr, tile=tile or None)
        save_image(output, sr)
    typer.echo(f"{image} {lr.shape[1]}x{lr.shape[0]} -> {output} {sr.shape[1]}x{sr.shape[0]} ({model.spec.describe()})")

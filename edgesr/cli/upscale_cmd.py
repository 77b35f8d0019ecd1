"""``edgesr upscale``: one image through a checkpoint (``edgesr.train.infer``)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgesr.cli import params
from edgesr.cli.interrupted import interrupted_note
from edgesr.errors import EdgeSRError, UsageError
from edgesr.options import DEVICES, MAX_SIDE, MIN_TILE, choice, number
from edgesr.paths import output_file


def upscale(
    image: Path = typer.Argument(..., help="Input image (png, jpg, bmp, webp, ...)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output image (.png recommended)."),
    checkpoint: Path | None = params.CHECKPOINT,
    tile: int = typer.Option(256, help="Tile side in input pixels for large images (0: no tiling)."),
    device: str = params.DEVICE,
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
        from edgesr.train.checkpoint import load_generator
        from edgesr.train.distributed import pick_device
        from edgesr.train.infer import upscale_image
        from edgesr.zoo import resolve

        lr = load_image(image)
        model = load_generator(resolve(checkpoint, "pt", "--checkpoint")).to(pick_device(device))
        sr = upscale_image(model, lr, tile=tile or None)
        save_image(output, sr)
    typer.echo(f"{image} {lr.shape[1]}x{lr.shape[0]} -> {output} {sr.shape[1]}x{sr.shape[0]} ({model.spec.describe()})")

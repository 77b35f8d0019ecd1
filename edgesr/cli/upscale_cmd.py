"""``edgesr upscale``: one image through any model artifact, in tiles with bounded memory, with progress.

The model is opened behind the runner contract (``edgesr.cli.model_arg``: checkpoint, imported model file,
ONNX file or engine) and the image goes through ``edgesr.runtime.tiling.Tiler`` in tiles of ``--tile`` LR
pixels: memory is one tile's activations plus the output image, whatever the photo's size. Tiles overlap
by twice the model's receptive margin (edgesr's own models: the tiled result equals the untiled one;
imported models: ``IMPORT_TILE_CONTEXT`` pixels of context). On a terminal a bar shows tiles done / total
and the time left.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from edgesr.cli import params
from edgesr.cli.interrupted import interrupted_note
from edgesr.cli.model_arg import MODEL
from edgesr.errors import EdgeSRError, UsageError
from edgesr.options import DEVICES, MAX_SIDE, MIN_TILE, choice, number
from edgesr.paths import output_file


class _Counted:
    """A runner that reports how many tiles went through it (the Tiler runs one batch per ``infer``)."""

    def __init__(self, runner: Any, tick: Callable[[int], None]) -> None:
        self._runner, self._tick = runner, tick

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    def infer(self, x: Any) -> Any:
        y = self._runner.infer(x)
        self._tick(int(x.shape[0]))
        return y


def upscale(
    image: Path = typer.Argument(..., help="Input image (png, jpg, bmp, webp, ...)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output image (.png recommended)."),
    checkpoint: str | None = MODEL,
    tile: int = typer.Option(256, help="Tile side in input pixels for large images (0: no tiling)."),
    device: str = params.DEVICE,
) -> None:
    """Upscale one image with a model (checkpoint, imported model file, ONNX or engine)."""
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
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from edgesr.cli.model_arg import open_model
        from edgesr.cli.ui import console
        from edgesr.imageops import from_nchw, load_image, save_image, to_nchw
        from edgesr.runtime.tiling import TileConfig, Tiler

        lr = load_image(image)
        h, w = lr.shape[:2]
        with open_model(checkpoint, device) as runner:
            spec = runner.spec
            overlap = 2 * spec.receptive_margin()
            side = max(tile, 2 * overlap + MIN_TILE) if tile else max(h, w, 2 * overlap + 1)
            bar = Progress(TextColumn("upscale"), BarColumn(), MofNCompleteColumn(), TextColumn("tiles"),
                           TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal)
            with bar:
                task = bar.add_task("tiles", total=None)
                counted = _Counted(runner, lambda n: bar.advance(task, n))
                tiler = Tiler(counted, TileConfig((side, side), overlap))  # type: ignore[arg-type]
                bar.update(task, total=tiler.tiles_for(h, w))
                out = tiler.infer(to_nchw(lr))
            assert out is not None
            sr = from_nchw(out)[0]
        save_image(output, sr)
    typer.echo(f"{image} {w}x{h} -> {output} {sr.shape[1]}x{sr.shape[0]} ({spec.describe()})")

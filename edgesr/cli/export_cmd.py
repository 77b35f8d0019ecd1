"""``edgesr export``: checkpoint or imported model file -> ONNX with a parity proof (``edgesr.export.onnx_export``)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgesr.cli.interrupted import interrupted_note
from edgesr.cli.ui import console
from edgesr.options import choice, number, shape
from edgesr.paths import output_file

CHECKPOINT_ARG = typer.Argument(
    None,
    help="edgesr checkpoint (.pt), shipped model name (`edgesr models`), or a PyTorch model file spandrel "
    "recognises (.pth .pt .ckpt .safetensors: ESRGAN, Real-ESRGAN Compact, SPAN, SwinIR, ...; read as weights "
    "only). Default: the shipped edge_s.",
)
OUTPUT_OPT = typer.Option(None, "-o", "--output", help="ONNX file to write. Default: <checkpoint name>.onnx here.")


def export(
    checkpoint: Path | None = CHECKPOINT_ARG,
    output: Path | None = OUTPUT_OPT,
    opset: int = typer.Option(17, help="ONNX opset (17 = what TensorRT 8.5 on JetPack 5 parses)."),
    exporter: str = typer.Option("torchscript", help="torchscript (default) or dynamo."),
    parity_size: list[str] = typer.Option(
        ["64x64", "96x128"], help="LR input size HxW of a parity check (repeat for more sizes)."
    ),
    min_parity_psnr: float = typer.Option(60.0, help="Refuse the export below this PSNR (dB) vs PyTorch."),
    parity_images: Path | None = typer.Option(None, help="Folder of photos for the parity check. Default: built-in."),
    fixed_tile: int | None = typer.Option(
        None,
        help="Export at this LR tile side (batch 1; rounded up to the size rule) instead of dynamic H/W: the runtime "
        "tiles every frame through it. Without it, a fixed 64 tile is used only where dynamic H/W cannot be exported.",
    ),
    min_tiled_psnr: float = typer.Option(
        40.0, help="A fixed-tile model: refuse the export below this PSNR (dB) of whole frames through the tile vs "
        "PyTorch on the whole frame (the tile itself must reach --min-parity-psnr).",
    ),
) -> None:
    """Export a checkpoint or an imported model to a self-describing ONNX file, with a parity proof on real images."""
    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.export.parity import fmt_db
    from edgesr.zoo import resolve

    ckpt = resolve(checkpoint, "pt", "CHECKPOINT")
    out = output_file(output or Path(ckpt.stem + ".onnx"), "--output", inputs=(ckpt,))
    number(opset, "--opset", 13, 21)
    number(min_parity_psnr, "--min-parity-psnr (dB)", 0, 200)
    choice(exporter, "--exporter", ("torchscript", "dynamo"))
    sizes = tuple(dict.fromkeys(shape(s, "--parity-size") for s in parity_size))
    images = str(parity_images) if parity_images else None
    number(min_tiled_psnr, "--min-tiled-psnr (dB)", 0, 200)
    cfg = ExportConfig(opset, exporter, sizes, min_parity_psnr, images, fixed_tile, min_tiled_psnr)
    with console.status(f"exporting {ckpt.name} ({exporter}, opset {opset}) and checking parity"), \
            interrupted_note("export", [out]):
        result = export_onnx(ckpt, out, cfg)
    console.print(f"[bold]{result.path}[/bold]: {result.spec.describe()}, opset {opset}, ops {result.ops}")
    if result.spec.fixed_tile is not None:
        th, tw = result.spec.fixed_tile
        why = f"H and W cannot be dynamic ({result.fixed_why}), so " if result.fixed_why else ""
        console.print(f"{why}exported at a fixed {th}x{tw} LR tile: the runtime tiles every frame through it")
    console.print(f"parity vs PyTorch ({result.parity.images_from}, ONNX Runtime CPU):")
    for size in result.parity.sizes:
        console.print(f"  {size.line()}")
    tiled = result.parity.worst_tiled_psnr_db
    if result.spec.fixed_tile is not None:
        whole = fmt_db(tiled) if tiled is not None else "none checked"
        console.print(f"the tile: {fmt_db(result.parity.worst_psnr_db)} >= {min_parity_psnr:g} dB; whole frames "
                      f"through it: {whole} >= {min_tiled_psnr:g} dB: ok")
    else:
        console.print(f"worst {fmt_db(result.parity.worst_psnr_db)} >= {min_parity_psnr:g} dB: ok")

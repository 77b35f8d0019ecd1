"""Parity proof at export: ONNX Runtime against PyTorch on real photos.

The built-in 'holdout' sample photos are turned into LR inputs (``imageops.downscale``),
centre-cropped to each requested size and run as one batch per size (which also
exercises the dynamic batch axis) through the PyTorch model and through the exported
file with ONNX Runtime (``edgesr.runtime.open_runner``). The export fails when the
PSNR between the two outputs is below the threshold (60 dB by default).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.compare import raw_difference, require_finite
from edgesr.errors import AccuracyGateError, BadInputError
from edgesr.export.check_images import load_check_images
from edgesr.imageops import to_nchw
from edgesr.pairs import centre_crop
from edgesr.samples import samples_dir


@dataclass(frozen=True)
class SizeParity:
    lr_hw: tuple[int, int]
    images: int
    max_abs_diff: float
    psnr_db: float  # on the raw float outputs, data range 1.0
    tiled: bool = False  # through a fixed tile (tiles, or padded up to it) vs PyTorch on the whole frame

    def line(self) -> str:
        how = " (through the fixed tile, vs PyTorch on the whole frame)" if self.tiled else ""
        return (
            f"{self.lr_hw[0]}x{self.lr_hw[1]} x{self.images} images: max |diff| {self.max_abs_diff:.2e}, "
            f"PSNR {fmt_db(self.psnr_db)}{how}"
        )


@dataclass(frozen=True)
class ParityReport:
    sizes: tuple[SizeParity, ...]
    min_psnr_db: float
    images_from: str
    min_tiled_psnr_db: float | None = None  # a fixed-tile model's whole frames (the tile itself: ``min_psnr_db``)

    @property
    def worst_psnr_db(self) -> float:
        """The graph's parity: at every size, or for a fixed-tile model at the tile."""
        return min(s.psnr_db for s in self.sizes if not s.tiled)

    @property
    def worst_tiled_psnr_db(self) -> float | None:
        tiled = [s.psnr_db for s in self.sizes if s.tiled]
        return min(tiled) if tiled else None

    @property
    def max_abs_diff(self) -> float:
        return max(s.max_abs_diff for s in self.sizes)

    @property
    def passed(self) -> bool:
        tiled = self.worst_tiled_psnr_db
        return self.worst_psnr_db >= self.min_psnr_db and (tiled is None or tiled >= (self.min_tiled_psnr_db or 0))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for s in d["sizes"]:
            s["psnr_db"] = json_db(s["psnr_db"])
        return d


def fmt_db(v: float) -> str:
    return "inf dB (identical)" if math.isinf(v) else f"{v:.2f} dB"


def json_db(v: float) -> float | str:
    return "inf" if math.isinf(v) else round(v, 3)


def parity_batches(
    scale: int, sizes: tuple[tuple[int, int], ...], folder: str | os.PathLike[str] | None = None
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """One NCHW float32 batch per LR size, from every image whose LR is at least that big."""
    src = Path(folder) if folder is not None else samples_dir("holdout")
    pairs, _ = load_check_images(src, scale)
    batches = []
    for h, w in sizes:
        crops = [centre_crop(p.lr, h, w) for p in pairs if p.lr.shape[0] >= h and p.lr.shape[1] >= w]
        if not crops:
            raise BadInputError(f"no image in {src} gives an LR of at least {h}x{w} at x{scale}")
        batches.append(((h, w), to_nchw(np.stack(crops))))
    return batches


def check_parity(
    torch_model: Any,
    onnx_path: str | os.PathLike[str],
    sizes: tuple[tuple[int, int], ...],
    min_psnr_db: float = 60.0,
    folder: str | os.PathLike[str] | None = None,
    min_tiled_psnr_db: float = 40.0,
) -> ParityReport:
    """Compare the PyTorch model with the ONNX file; raise ``AccuracyGateError`` below ``min_psnr_db``. A model
    exported at a fixed tile is compared at the tile itself (the graph: ``min_psnr_db``) and, at the other sizes,
    through the tile against PyTorch on the whole frame (``min_tiled_psnr_db``: tiles see ``receptive_margin``
    pixels of context, and a frame smaller than the tile is padded by reflection up to it, where PyTorch pads
    with zeros inside the network)."""
    import torch

    from edgesr.runtime import open_runner
    from edgesr.runtime.size_rule import run_with_rule

    results = []
    tile = torch_model.spec.fixed_tile
    if tile is not None:
        sizes = (tile, *(s for s in sizes if s != tile))
    whole = replace(torch_model.spec, fixed_tile=None)  # a fixed-tile ONNX is tiled; PyTorch runs whole frames
    with open_runner(onnx_path, providers=["cpu"]) as runner:
        for hw, x in parity_batches(torch_model.spec.scale, sizes, folder):
            with torch.inference_mode():  # the same size rule (padding) as the runtime applies to the ONNX
                ref = run_with_rule(lambda a: torch_model(torch.from_numpy(a)).numpy(), x, whole)
            got = runner.infer(x)
            if got.shape != ref.shape:
                raise AccuracyGateError(f"ONNX output shape {got.shape} differs from PyTorch's {ref.shape}")
            require_finite(got, "the exported ONNX", f"the {hw[0]}x{hw[1]} batch")
            results.append(SizeParity(hw, x.shape[0], *raw_difference(got, ref), tiled=tile is not None and hw != tile))
    source = str(folder) if folder else "built-in holdout samples"
    report = ParityReport(tuple(results), min_psnr_db, source, min_tiled_psnr_db if tile is not None else None)
    tiled = report.worst_tiled_psnr_db
    if tiled is not None and tiled < min_tiled_psnr_db and report.worst_psnr_db >= min_psnr_db:
        raise AccuracyGateError(
            f"through its fixed {tile[0]}x{tile[1]} tile, the ONNX differs from PyTorch on whole frames: PSNR "
            f"{fmt_db(tiled)} < {min_tiled_psnr_db:g} dB (the tile itself: {fmt_db(report.worst_psnr_db)}); "
            "export with a larger --fixed-tile, or lower --min-tiled-psnr; the export was not written"
        )
    if not report.passed:
        raise AccuracyGateError(
            f"ONNX Runtime output differs from PyTorch: PSNR {fmt_db(report.worst_psnr_db)} < {min_psnr_db:g} dB "
            f"(max |diff| {report.max_abs_diff:.2e}); the export was not written"
        )
    return report

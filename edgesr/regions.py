"""Where in a frame an output differs most from its reference: the worst tile (numpy only; the runtime uses it).

A whole-frame PSNR hides where the error is: INT8 that is fine on the scene and broken on a burnt-in
timestamp averages to a number that blames neither. ``worst_tile`` splits the output into a grid of
``tile`` x ``tile`` pixels (edge tiles are smaller) and returns the one with the largest mean squared error,
with its coordinates (output pixels) and PSNR, so a report can say "x 0-64, y 0-64: 31.2 dB".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_TILE = 64  # output pixels: 16 input pixels of an x4 model, a line of OSD text


@dataclass(frozen=True)
class Tile:
    x: int  # left, output pixels
    y: int  # top
    w: int
    h: int
    psnr_db: float  # this tile, RGB [0, 255]; inf when identical

    def describe(self) -> str:
        db = "identical" if math.isinf(self.psnr_db) else f"{self.psnr_db:.2f} dB"
        return f"tile x {self.x}-{self.x + self.w}, y {self.y}-{self.y + self.h} ({db})"

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self)
        d["psnr_db"] = "inf" if math.isinf(self.psnr_db) else round(self.psnr_db, 3)
        return d


def worst_tile(output: np.ndarray, reference: np.ndarray, tile: int = DEFAULT_TILE) -> Tile:
    """The ``tile``-pixel grid cell of HxW(xC) ``output`` with the largest MSE against ``reference``."""
    if output.shape != reference.shape:
        raise ValueError(f"worst tile of different shapes {output.shape} vs {reference.shape}")
    if tile < 1:
        raise ValueError(f"tile must be positive, got {tile}")
    d = output.astype(np.float64) - reference.astype(np.float64)
    sq = d * d if d.ndim == 2 else (d * d).sum(axis=2)
    channels = 1 if d.ndim == 2 else d.shape[2]
    h, w = sq.shape
    gh, gw = -(-h // tile), -(-w // tile)
    padded = np.zeros((gh * tile, gw * tile))
    padded[:h, :w] = sq
    sums = padded.reshape(gh, tile, gw, tile).sum(axis=(1, 3))
    rows = np.minimum(tile, h - np.arange(gh) * tile)
    cols = np.minimum(tile, w - np.arange(gw) * tile)
    mse = sums / (np.outer(rows, cols) * channels)
    i, j = np.unravel_index(int(np.argmax(mse)), mse.shape)
    worst = float(mse[i, j])
    psnr = math.inf if worst == 0.0 else 10.0 * math.log10(255.0 * 255.0 / worst)
    return Tile(int(j * tile), int(i * tile), int(cols[j]), int(rows[i]), psnr)

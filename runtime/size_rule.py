"""The size rule of a model (H and W multiples of N, at least a minimum), applied in numpy.

Models with window attention (SwinIR, HAT, DAT, ...) take only inputs whose H and W are
multiples of their window size. The runner pads every input on the bottom and right by
reflection (the border repeats the image, as spandrel and the original repositories do)
up to the rule, runs the model, and crops the output back to ``scale`` x the input, so any
frame or tile size works. Where a side is shorter than the padding, the reflection is continued by
repeating the edge (as spandrel does).

A model whose H and W could not be exported dynamic (``spec.fixed_tile``: exported at one LR tile shape)
gets every frame padded to at least the tile, then run through it in overlapping tiles
(``edgesr.runtime.tiling.through_fixed_tile``), so it too takes any frame size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgesr.runtime.tiling import through_fixed_tile
from edgesr.spec import ModelSpec


def padded_side(n: int, multiple: int, minimum: int) -> int:
    """The smallest side >= ``n`` and >= ``minimum`` that is a multiple of ``multiple``."""
    m = max(1, multiple)
    side = max(n, minimum)
    return -(-side // m) * m


def needs_padding(spec: ModelSpec) -> bool:
    return spec.size_multiple > 1 or spec.min_size > 0 or spec.fixed_tile is not None


def pad_input(x: np.ndarray, spec: ModelSpec) -> tuple[np.ndarray, tuple[int, int]]:
    """``x`` (NCHW) padded on the bottom/right to the spec's size rule (and a fixed tile's size), and the
    original (H, W)."""
    h, w = x.shape[2], x.shape[3]
    if not needs_padding(spec):
        return x, (h, w)
    th, tw = spec.fixed_tile or (0, 0)
    ph = padded_side(h, spec.size_multiple, max(spec.min_size, th)) - h
    pw = padded_side(w, spec.size_multiple, max(spec.min_size, tw)) - w
    if ph == 0 and pw == 0:
        return x, (h, w)
    rh, rw = min(ph, h - 1), min(pw, w - 1)  # reflection as far as the image reaches, then its edge
    out = np.pad(x, ((0, 0), (0, 0), (0, rh), (0, rw)), mode="reflect")
    if rh < ph or rw < pw:
        out = np.pad(out, ((0, 0), (0, 0), (0, ph - rh), (0, pw - rw)), mode="edge")
    return out, (h, w)


def crop_output(y: np.ndarray, hw: tuple[int, int], scale: int, padded: tuple[int, int] | None = None) -> np.ndarray:
    """The model's output for the unpadded input ``hw``. An output that is not ``scale`` x the ``padded`` input
    comes back as it is, so that the runner's output check names the mismatch instead of a crop hiding it."""
    h, w = hw[0] * scale, hw[1] * scale
    if y.shape[2] == h and y.shape[3] == w:
        return y
    if padded is not None and (y.shape[2], y.shape[3]) != (padded[0] * scale, padded[1] * scale):
        return y
    return np.ascontiguousarray(y[:, :, :h, :w])


def run_with_rule(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """``fn`` (the bare model, NCHW -> NCHW) on ``x`` with the spec's size rule applied (pad, run, crop).
    A 1-channel model given RGB frames runs each channel as a gray image (channels folded into the batch),
    so every stage keeps handling RGB."""
    fold = spec.in_channels == 1 and x.shape[1] == 3
    if fold:
        n, c, h, w = x.shape
        x = np.ascontiguousarray(x.reshape(n * c, 1, h, w))
    padded, hw = pad_input(x, spec)
    y = through_fixed_tile(fn, padded, spec) if spec.fixed_tile is not None else fn(padded)
    y = crop_output(y, hw, spec.scale, (padded.shape[2], padded.shape[3]))
    if fold:
        y = np.ascontiguousarray(y.reshape(n, c, y.shape[2], y.shape[3]))
    return y


def as_model_input(x: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """What the bare model gets for ``x`` (calibration and measurements): gray models one channel per image,
    padded to the size rule; for a fixed-tile model, the tile at the top left of each image."""
    if spec.in_channels == 1 and x.shape[1] == 3:
        n, c, h, w = x.shape
        x = np.ascontiguousarray(x.reshape(n * c, 1, h, w))
    x = pad_input(x, spec)[0]
    if spec.fixed_tile is not None:
        x = np.ascontiguousarray(x[:, :, : spec.fixed_tile[0], : spec.fixed_tile[1]])
    return x

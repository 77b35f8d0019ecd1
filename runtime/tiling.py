"""Frames larger than the engine's shape range, processed in overlapping tiles and stitched without seams.

Every tile has the same shape (the last tile of a row/column is moved back to end at the border, which
only widens its overlap), so a TensorRT engine never changes its input shape between tiles, and tiles
can be batched up to the engine's max batch. Stitching keeps, from each tile, the part nearest its
centre: neighbouring tiles meet in the middle of their overlap, so each output pixel comes from a tile
that saw at least ``overlap / 2`` LR pixels of context around it. With ``overlap`` of the order of the
network's effective receptive field the stitched frame equals the untiled one to > 50 dB PSNR.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgesr.errors import BadInputError, UsageError

if TYPE_CHECKING:
    from edgesr.runtime.runner import Runner
    from edgesr.spec import ModelSpec

DEFAULT_OVERLAP = 16
MAX_TILES_PER_FRAME = 1024


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` overlap."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def keep_bounds(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """Per tile, the [lo, hi) interval (frame coordinates) it contributes: cuts in the middle of overlaps."""
    cuts = [0] + [(starts[i] + starts[i - 1] + tile) // 2 for i in range(1, len(starts))] + [length]
    return [(cuts[i], cuts[i + 1]) for i in range(len(starts))]


def stitch(
    fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    tile: tuple[int, int],
    overlap: int,
    scale: int,
    batch: int = 1,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """``fn`` (NCHW -> NCHW at ``scale``) run on ``tile``-sized crops of ``x`` (one frame, N=1) overlapping by at
    least ``overlap``, up to ``batch`` crops per call; each output pixel comes from the tile whose centre is
    nearest. None when ``cancelled`` says yes between calls."""
    _, c, h, w = x.shape
    th, tw = tile
    s = scale
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    ykeep, xkeep = keep_bounds(ys, th, h), keep_bounds(xs, tw, w)
    jobs = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    out: np.ndarray | None = None
    for k in range(0, len(jobs), batch):
        if cancelled is not None and cancelled():
            return None
        group = jobs[k : k + batch]
        tiles = np.concatenate([x[:, :, ys[i] : ys[i] + th, xs[j] : xs[j] + tw] for i, j in group], axis=0)
        y = fn(np.ascontiguousarray(tiles))
        if out is None:
            out = np.empty((1, y.shape[1], h * s, w * s), dtype=np.float32)
        for b, (i, j) in enumerate(group):
            (y0, y1), (x0, x1) = ykeep[i], xkeep[j]
            oy, ox = y0 - ys[i], x0 - xs[j]
            out[0, :, y0 * s : y1 * s, x0 * s : x1 * s] = y[
                b, :, oy * s : (oy + y1 - y0) * s, ox * s : (ox + x1 - x0) * s
            ]
    return out


def fixed_tile_overlap(spec: ModelSpec) -> int:
    """Overlap between the tiles of a model exported at a fixed tile: twice its receptive margin (each kept pixel
    has that much LR context), a multiple of its size rule (tiles start on the model's grid, as the whole frame
    does), and less than the tile."""
    assert spec.fixed_tile is not None
    m = max(1, spec.size_multiple)
    overlap = -(-2 * spec.receptive_margin() // m) * m
    return min(overlap, min(spec.fixed_tile) - m)


def through_fixed_tile(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """A model exported at one fixed tile (``spec.fixed_tile``, batch 1) on frames at least that big (the size rule
    pads smaller ones): every frame goes through in tiles of exactly that shape."""
    assert spec.fixed_tile is not None
    th, tw = spec.fixed_tile
    if x.shape[2] == th and x.shape[3] == tw and x.shape[0] == 1:
        return fn(x)
    overlap = fixed_tile_overlap(spec)
    outs = [stitch(fn, x[k : k + 1], (th, tw), overlap, spec.scale) for k in range(x.shape[0])]
    return np.concatenate([o for o in outs if o is not None], axis=0)


@dataclass(frozen=True)
class TileConfig:
    tile: tuple[int, int] | None = None  # LR tile size (H, W); None: only when a frame exceeds the engine's max
    overlap: int = DEFAULT_OVERLAP


class _Ticket:
    """A ``Tiler.submit``: the runner's ticket of a whole frame, or the output once known."""

    __slots__ = ("pending", "output")

    def __init__(self, pending: object | None, output: np.ndarray | None = None) -> None:
        self.pending, self.output = pending, output


class Tiler:
    """Runs a runner on whole frames when it can, in tiles when it must (or when asked to). It offers the
    runner's ``submit``/``result``: whole frames stay in flight on the runner (up to ``max_in_flight``); a
    tiled frame first collects the frames in flight (the runner is then free for its tiles) and is done
    by the time ``submit`` returns."""

    def __init__(self, runner: Runner, config: TileConfig | None = None) -> None:
        self.runner = runner
        self.max_in_flight = runner.max_in_flight
        self._in_flight: deque[_Ticket] = deque()
        config = config or TileConfig()
        self.overlap = config.overlap
        self.tile = config.tile
        prof = runner.profile
        if self.overlap < 0:
            raise UsageError(f"--tile-overlap must be >= 0, got {self.overlap}")
        if self.tile is not None:
            th, tw = self.tile
            if prof is not None and not prof.accepts(th, tw):
                raise UsageError(
                    f"--tile {th}x{tw} is outside what {runner.path.name} accepts: {prof.describe()}"
                )
            if 2 * self.overlap >= min(th, tw):
                raise UsageError(f"--tile-overlap {self.overlap} must be less than half the tile ({th}x{tw})")

    def plan(self, h: int, w: int) -> tuple[int, int] | None:
        """The tile shape for an HxW frame, or None when the whole frame goes through at once."""
        prof = self.runner.profile
        if self.tile is not None:
            if h <= self.tile[0] and w <= self.tile[1]:
                return None
            return min(self.tile[0], h), min(self.tile[1], w)
        if prof is None or prof.accepts(h, w) or self.runner.spec.fixed_tile is not None:
            return None  # (a model exported at a fixed tile: the runner tiles every frame through it itself)
        if 2 * self.overlap >= min(prof.max):
            raise UsageError(f"--tile-overlap {self.overlap} must be less than half the engine's max shape")
        return min(prof.max[0], h), min(prof.max[1], w)

    def tiles_for(self, h: int, w: int) -> int:
        """Tiles per HxW frame; a frame needing more than MAX_TILES_PER_FRAME is refused before any of
        them runs (a 10000x10000 frame into a small engine would take minutes per frame)."""
        t = self.plan(h, w)
        if t is None:
            return 1
        n = len(tile_starts(h, t[0], self.overlap)) * len(tile_starts(w, t[1], self.overlap))
        if n > MAX_TILES_PER_FRAME:
            raise BadInputError(
                f"a {h}x{w} frame needs {n} tiles of {t[0]}x{t[1]} through {self.runner.path.name} (more than "
                f"{MAX_TILES_PER_FRAME}): pass a smaller input, or build an engine with a larger --max-shape"
            )
        return n

    def submit(self, x: np.ndarray, cancelled: Callable[[], bool] | None = None) -> _Ticket:
        """Start ``x`` (NCHW float32, N=1); redeem the tickets with ``result`` in submission order."""
        h, w = x.shape[2:]
        if self.plan(h, w) is None:
            ticket = _Ticket(self.runner.submit(x))
            self._in_flight.append(ticket)
            return ticket
        while self._in_flight:
            self._collect()
        return _Ticket(None, self.infer(x, cancelled))

    def result(self, ticket: _Ticket) -> np.ndarray | None:
        """The output of a ``submit`` (None: its tiling was cancelled)."""
        while ticket.pending is not None:
            self._collect()
        return ticket.output

    def _collect(self) -> None:
        oldest = self._in_flight.popleft()
        oldest.output, oldest.pending = self.runner.result(oldest.pending), None

    def infer(self, x: np.ndarray, cancelled: Callable[[], bool] | None = None) -> np.ndarray | None:
        """NCHW float32 (N=1) in, NCHW float32 out, tiled if needed. ``cancelled`` is asked between tiles:
        when it says yes, None comes back (the run is being aborted)."""
        n, _, h, w = x.shape
        t = self.plan(h, w)
        if t is None:
            return self.runner.infer(x)
        if n != 1:
            raise UsageError("tiled inference takes one frame at a time")
        self.tiles_for(h, w)
        batch = self.runner.profile.max_batch if self.runner.profile is not None else 1
        return stitch(self.runner.infer, x, t, self.overlap, self.runner.spec.scale, batch, cancelled)

"""Several streams in one picture: the live view (``-o http://:8080``) of a multi-stream run shows a grid
with one cell per stream, each labelled with its name, fps and PSNR checks vs FP32.

``GridSink`` holds the newest image of every stream; ``cell(i)`` is the sink stream ``i`` writes to. At most
``max_fps`` times a second the cells are composed (PIL: resize to one cell size, draw the label) and the grid
is written to the inner sink (the live view), which serves it as it serves a single stream.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np

from edgesr.runtime.sinks import Sink
from edgesr.runtime.sources import Frame
from edgesr.runtime.stats import StreamStats

Label = Callable[[], str]


def stream_label(index: int, name: str, stats: StreamStats) -> Label:
    def label() -> str:
        psnr = stats.psnr
        check = "no check yet" if not psnr.count else (
            f"PSNR {psnr.mean:.1f} dB ({psnr.count})" if math.isfinite(psnr.mean) else f"identical ({psnr.count})"
        )
        return f"[{index}] {name}  {stats.fps():.1f} fps  {check}"

    return label


class GridSink(Sink):
    """Composes the newest frame of each stream into a grid and writes it to ``inner``."""

    def __init__(self, inner: Sink, labels: list[Label], scale: int, max_fps: float = 10.0) -> None:
        self.inner, self.labels, self.scale, self.max_fps = inner, labels, scale, max_fps
        self.cols = math.ceil(math.sqrt(len(labels)))
        self.rows = math.ceil(len(labels) / self.cols)
        self.latest: list[np.ndarray | None] = [None] * len(labels)
        self.description = f"grid of {len(labels)} streams -> {inner.description}"
        self._lock = threading.Lock()
        self._last = 0.0
        self._count = 0

    def cell(self, index: int) -> Sink:
        return _Cell(self, index)

    def update(self, index: int, image: np.ndarray) -> None:
        with self._lock:
            self.latest[index] = image
            now = time.perf_counter()
            if now - self._last < 1.0 / self.max_fps:
                return
            self._last = now
            grid = self.compose()
            frame = Frame(self._count, grid[:: self.scale, :: self.scale].copy())  # the "input" of compare view
            self._count += 1
        self.inner.write(frame, grid)

    def compose(self) -> np.ndarray:
        from PIL import Image, ImageDraw

        shown = [im for im in self.latest if im is not None]
        ch = max(im.shape[0] for im in shown)
        cw = max(im.shape[1] for im in shown)
        ch, cw = ch - ch % self.scale, cw - cw % self.scale
        canvas = Image.new("RGB", (cw * self.cols, ch * self.rows), (24, 24, 24))
        draw = ImageDraw.Draw(canvas)
        for i, im in enumerate(self.latest):
            x, y = (i % self.cols) * cw, (i // self.cols) * ch
            if im is not None:
                pic = Image.fromarray(im)
                if pic.size != (cw, ch):
                    bilinear = getattr(Image, "Resampling", Image).BILINEAR  # Pillow 9.0 has no Resampling
                    pic = pic.resize((cw, ch), bilinear)
                canvas.paste(pic, (x, y))
            text = self.labels[i]() + ("" if im is not None else "  (waiting)")
            draw.rectangle((x, y, x + min(cw, 8 + 7 * len(text)), y + 14), fill=(0, 0, 0))
            draw.text((x + 4, y + 2), text, fill=(255, 255, 255))
        return np.asarray(canvas)

    def write(self, frame: Frame, image: np.ndarray) -> None:  # the grid is written through its cells
        raise NotImplementedError("write to GridSink.cell(i)")

    def pump(self) -> None:
        self.inner.pump()

    @property
    def wants_stop(self) -> str | None:
        return self.inner.wants_stop

    @property
    def warnings(self) -> list[str]:
        return list(getattr(self.inner, "warnings", []))

    def close(self, complete: bool = True) -> None:
        self.inner.close(complete)


class _Cell(Sink):
    def __init__(self, grid: GridSink, index: int) -> None:
        self.grid, self.index = grid, index
        self.description = f"cell {index} of the live view grid"

    def write(self, frame: Frame, image: np.ndarray) -> None:
        self.grid.update(self.index, image)

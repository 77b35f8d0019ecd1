"""Measuring one bench row: latency after warm-up, peak host memory, and the real input image.

Latency: ``warmup`` untimed calls, then ``runs`` calls timed one by one with ``perf_counter``
(each call returns host memory, so GPU work is finished when the clock stops); median and p95.

Peak memory: the process's peak resident set size (``VmHWM`` in ``/proc/self/status``), reset to
the current RSS before each row by writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0). So a
row's peak is what the process held at most while that row loaded and ran; ``delta`` is that peak
minus the RSS just before the row (what the row added). Where the reset is not permitted the
peak is the process's peak since it started, and the method says so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesr.errors import MissingDependencyError
from edgesr.imageops import imresize, list_images, load_image
from edgesr.samples import samples_dir

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
METHOD_RESET = "VmHWM (peak RSS) of the bench process, reset via /proc/self/clear_refs before each row"
METHOD_SINCE_START = "VmHWM (peak RSS) since process start: resetting it was not permitted here"
METHOD_NONE = "not measured (no /proc/self/status)"


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    runs: int
    warmup: int


def time_calls(
    fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, warmup: int, runs: int
) -> tuple[Timing, np.ndarray]:
    """Latency of ``fn(x)``; also the last output (for the PSNR check)."""
    y = None
    for _ in range(warmup):
        y = fn(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        y = fn(x)
        times.append(time.perf_counter() - t0)
    assert y is not None  # runs >= 1
    ms = np.asarray(times) * 1e3
    timing = Timing(
        median_ms=float(np.median(ms)),
        p95_ms=float(np.percentile(ms, 95)),
        mean_ms=float(ms.mean()),
        min_ms=float(ms.min()),
        runs=runs,
        warmup=warmup,
    )
    return timing, y


def _status_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


class PeakMemory:
    """Peak host memory of this process over one row."""

    def __init__(self) -> None:
        self.method = METHOD_NONE if _status_kib("VmHWM") is None else self._probe()
        self._start_kib: int | None = None

    @staticmethod
    def _reset() -> bool:
        try:
            CLEAR_REFS.write_text("5")
            return True
        except OSError:
            return False

    def _probe(self) -> str:
        return METHOD_RESET if self._reset() else METHOD_SINCE_START

    def start(self) -> None:
        if self.method == METHOD_RESET:
            self._reset()
        self._start_kib = _status_kib("VmRSS")

    def result_mib(self) -> tuple[float | None, float | None]:
        """(peak RSS, peak minus the RSS at ``start``) in MiB."""
        peak = _status_kib("VmHWM")
        if peak is None:
            return None, None
        delta = None if self._start_kib is None else max(0, peak - self._start_kib) / 1024
        return round(peak / 1024, 1), None if delta is None else round(delta, 1)


def real_input(h: int, w: int) -> tuple[np.ndarray, str]:
    """A real photo as an ``h`` x ``w`` LR frame: the largest built-in holdout image (never used for
    INT8 calibration) resized (MATLAB bicubic) so that it just covers the frame, centre-cropped. Every
    size sees the whole scene, not a flat patch of it. Without scikit-image (the built-in photos come
    from it; a bare Jetson install) a synthetic pattern stands in, and its name says so."""
    try:
        files = list_images(samples_dir("holdout"))
    except MissingDependencyError:
        return synthetic_pattern(h, w), "a synthetic pattern (pip install scikit-image for the built-in photos)"
    images = [(load_image(f), f.name) for f in files]
    img, name = max(images, key=lambda t: t[0].shape[0] * t[0].shape[1])
    ih, iw = img.shape[:2]
    factor = max(h / ih, w / iw)
    img = imresize(img, size=(max(h, round(ih * factor)), max(w, round(iw * factor))))
    ih, iw = img.shape[:2]
    top, left = (ih - h) // 2, (iw - w) // 2
    frame = np.ascontiguousarray(img[top : top + h, left : left + w])
    return frame, f"{name} (built-in holdout photo, resized to cover each size)"


def synthetic_pattern(h: int, w: int) -> np.ndarray:
    """Smooth colour gradients, rings of rising frequency and hard edges: image-like content at any size."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(y - h / 2, x - w / 2) / max(h, w)
    rings = 0.5 + 0.5 * np.sin(60.0 * r * r * np.pi)
    blocks = ((x // max(1, w // 8) + y // max(1, h // 6)) % 2).astype(np.float32)
    img = np.stack([x / max(1, w - 1), rings, 0.3 + 0.4 * blocks * (y / max(1, h - 1))], axis=-1)
    return np.ascontiguousarray(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8))

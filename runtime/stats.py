"""Counters and latency percentiles of a stream, in constant memory (runs last for hours).

Latencies go into a fixed log-spaced histogram (1% wide bins from 1 us to ~100 s), so p50/p95/p99
need no per-frame list: memory does not grow with the run. Quantiles are exact to within one bin (1%).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesr.runtime.stream_report import StreamCounts

STAGES = ("capture", "preprocess", "infer", "postprocess", "write", "end_to_end")


class LatencyHistogram:
    """Log-binned histogram of durations in seconds; thread-safe ``add``."""

    LO = 1e-6
    GROWTH = 1.01
    BINS = int(math.ceil(math.log(1e8) / math.log(1.01))) + 2  # 1 us .. 100 s

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, dtype=np.int64)
        self.n = 0
        self.total = 0.0
        self.max = 0.0
        self._lock = threading.Lock()

    def _bin(self, seconds: float) -> int:
        if seconds <= self.LO:
            return 0
        return min(self.BINS - 1, 1 + int(math.log(seconds / self.LO) / math.log(self.GROWTH)))

    def add(self, seconds: float) -> None:
        with self._lock:
            self.counts[self._bin(seconds)] += 1
            self.n += 1
            self.total += seconds
            self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float:
        """The q-quantile (0..1) in seconds: upper edge of the bin holding it, capped at the maximum."""
        with self._lock:
            if self.n == 0:
                return math.nan
            rank = max(1, int(math.ceil(q * self.n)))
            idx = int(np.searchsorted(np.cumsum(self.counts), rank))
            return min(self.max, self.LO * self.GROWTH**idx)

    def summary_ms(self) -> dict[str, float | int | None]:
        def ms(v: float) -> float | None:
            return None if math.isnan(v) else round(v * 1e3, 3)

        return {
            "count": self.n,
            "mean": ms(self.total / self.n if self.n else math.nan),
            "p50": ms(self.quantile(0.50)),
            "p95": ms(self.quantile(0.95)),
            "p99": ms(self.quantile(0.99)),
            "max": ms(self.max if self.n else math.nan),
        }


@dataclass
class PsnrLog:
    """Results of the FP32 reference checks: running aggregates plus the last ``keep`` values."""

    keep: int = 1000
    count: int = 0
    skipped_busy: int = 0
    below_min: int = 0
    total: float = 0.0
    infinite: int = 0
    worst: float = math.inf
    recent: deque[tuple[int, float]] = field(default_factory=deque)
    worst_regions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))  # checks below min

    def add(self, frame: int, value: float, min_psnr: float | None, region: dict[str, Any] | None = None) -> None:
        """``region``: the worst tile of a check below ``min_psnr`` (``edgesr.regions.Tile.to_dict``)."""
        if region is not None:
            self.worst_regions.append({"frame": frame, "psnr_db": _num(value), "worst_tile": region})
        self.count += 1
        if math.isinf(value):
            self.infinite += 1
        else:
            self.total += value
        self.worst = min(self.worst, value)
        if min_psnr is not None and value < min_psnr:
            self.below_min += 1
        self.recent.append((frame, value))
        while len(self.recent) > self.keep:
            self.recent.popleft()

    @property
    def mean(self) -> float:
        """Mean over finite checks (identical outputs, PSNR = inf, do not pull it)."""
        finite = self.count - self.infinite
        if finite == 0:
            return math.inf if self.count else math.nan
        return self.total / finite

    def to_dict(self) -> dict[str, Any]:
        return {
            "checks": self.count,
            "skipped_reference_busy": self.skipped_busy,
            "below_min_psnr": self.below_min,
            "mean_db": _num(self.mean),
            "worst_db": _num(self.worst) if self.count else None,
            "identical": self.infinite,
            "values": [{"frame": f, "psnr_db": _num(v)} for f, v in self.recent],
            "below_min_worst_regions": list(self.worst_regions),  # the last 100, output pixels
        }


def _num(v: float) -> float | str | None:
    """JSON has no inf/nan: inf (identical outputs) is written as the string "inf"."""
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf"
    return float(v)


@dataclass
class StreamStats:
    """Everything the live display and the final report show; updated by the pipeline threads."""

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0  # live source: frames replaced by a newer one before we took them
    skipped: int = 0  # corrupt / undecodable input frames
    tiles_per_frame: int = 1
    input_hw: tuple[int, int] | None = None  # of the last frame written (LR)
    output_hw: tuple[int, int] | None = None  # of the last image written (SR, or side by side)
    started: float = field(default_factory=time.perf_counter)
    first_out: float | None = None
    last_out: float | None = None
    latency: dict[str, LatencyHistogram] = field(default_factory=lambda: {s: LatencyHistogram() for s in STAGES})
    psnr: PsnrLog = field(default_factory=PsnrLog)
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=50))

    def frame_written(self) -> None:
        now = time.perf_counter()
        self.frames_out += 1
        if self.first_out is None:
            self.first_out = now
        self.last_out = now

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def fps(self) -> float:
        """Output frames per second over the whole run (start-up included)."""
        t = self.elapsed() if self.last_out is None else self.last_out - self.started
        return self.frames_out / t if t > 0 else 0.0

    def steady_fps(self) -> float:
        """Frames per second after the first output frame (excludes start-up and pipeline fill)."""
        if self.first_out is None or self.last_out is None or self.frames_out < 2:
            return 0.0
        return (self.frames_out - 1) / max(self.last_out - self.first_out, 1e-9)

    def engine_busy(self) -> float:
        """Time spent in the infer stage over the run time (from start to the last output frame)."""
        t = self.elapsed() if self.last_out is None else self.last_out - self.started
        return self.latency["infer"].total / t if t > 0 else 0.0

    def counts(self) -> StreamCounts:
        """The report's statistics (their fields are declared in ``StreamCounts``)."""
        return StreamCounts(
            frames_in=self.frames_in,
            frames_out=self.frames_out,
            dropped=self.dropped,
            skipped=self.skipped,
            tiles_per_frame=self.tiles_per_frame,
            input_hw=list(self.input_hw) if self.input_hw else None,
            output_hw=list(self.output_hw) if self.output_hw else None,
            duration_s=round(self.elapsed(), 3),
            fps=round(self.fps(), 3),
            steady_fps=round(self.steady_fps(), 3),
            engine_busy_fraction=round(self.engine_busy(), 3),
            latency_ms={s: h.summary_ms() for s, h in self.latency.items()},
            psnr=self.psnr.to_dict(),
            warnings=list(self.warnings),
        )

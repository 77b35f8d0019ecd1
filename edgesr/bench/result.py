"""What ``edgesr bench`` measured: one ``BenchRow`` per (row, input size), and the ``BenchResult``
that carries them with the machine, the model and the settings (written as bench.json/.csv)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgesr.bench.measure import Timing
from edgesr.bench.rows import RowSpec


@dataclass
class BenchRow:
    size: tuple[int, int]
    row: RowSpec
    status: str  # "ok", "not available: ...", "not supported: ...", "error: ...", "interrupted"
    device: str = ""
    note: str = ""
    timing: Timing | None = None
    gflops: float | None = None
    peak_rss_mib: float | None = None
    rss_delta_mib: float | None = None
    psnr_vs_fp32: float | None = None
    speedup: float | None = None  # baseline median / this median, same size

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def fps(self) -> float | None:
        return 1e3 / self.timing.median_ms if self.timing else None

    def to_dict(self) -> dict[str, Any]:
        t = self.timing
        psnr = self.psnr_vs_fp32
        return {
            "size": f"{self.size[0]}x{self.size[1]}",
            "backend": self.row.backend,
            "precision": self.row.precision,
            "variant": self.row.variant,
            "device": self.device,
            "status": self.status,
            "latency_median_ms": round(t.median_ms, 3) if t else None,
            "latency_p95_ms": round(t.p95_ms, 3) if t else None,
            "latency_min_ms": round(t.min_ms, 3) if t else None,
            "fps": round(self.fps, 3) if self.fps else None,
            "gflops": round(self.gflops, 2) if self.gflops else None,
            "peak_rss_mib": self.peak_rss_mib,
            "rss_delta_mib": self.rss_delta_mib,
            "psnr_vs_fp32_db": None if psnr is None else ("inf" if np.isinf(psnr) else round(psnr, 3)),
            "speedup_vs_baseline": round(self.speedup, 3) if self.speedup else None,
            "runs": t.runs if t else None,
            "warmup": t.warmup if t else None,
            "note": self.note,
        }


@dataclass
class BenchResult:
    model: dict[str, Any]
    machine: dict[str, Any]
    config: dict[str, Any]
    reference: str
    baseline: str
    memory_method: str
    rows: list[BenchRow] = field(default_factory=list)
    interrupted: bool = False
    duration_s: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "rows"}
        d["rows"] = [r.to_dict() for r in self.rows]
        return d

    def find(self, size: tuple[int, int], backend: str, precision: str, variant: str = "") -> BenchRow | None:
        for r in self.rows:
            if r.size == size and r.row == RowSpec(backend, precision, variant):
                return r
        return None

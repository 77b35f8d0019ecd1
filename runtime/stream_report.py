"""What ``run_stream`` returns and writes: one ``StreamReport``.

The JSON file has the fields it always had, in the same order (``to_dict``): the run (version, start,
source), the engine and outputs, the checks asked for, how it ended, the statistics of ``StreamStats``,
the sha256 of the file written (when one was) and the live source's reconnects. ``report_path`` is
where that file went (None when none was written); it is not itself in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class StreamReport:
    edgesr_version: str
    started_at: str
    source: str
    engine: str | None = None
    engine_description: str | None = None
    engine_accepts: Any = None
    output: str | list[str] | None = None
    output_description: str | None = None
    checks: str | None = None
    check_every: int = 0
    min_psnr: float | None = None
    fail_below: float | None = None
    end_reason: str = ""
    error: str | None = None
    # StreamStats.report()
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    skipped: int = 0
    tiles_per_frame: int = 1
    input_hw: list[int] | None = None
    output_hw: list[int] | None = None
    duration_s: float = 0.0
    fps: float = 0.0
    steady_fps: float = 0.0
    engine_busy_fraction: float = 0.0
    latency_ms: dict[str, dict[str, Any]] = field(default_factory=dict)  # per stage: count, mean, p50, p95...
    psnr: dict[str, Any] = field(default_factory=dict)  # PsnrLog.to_dict()
    warnings: list[str] = field(default_factory=list)
    output_sha256: str | None = None  # in the file only when a file was written
    live: dict[str, Any] | None = None
    network: dict[str, Any] | None = None  # per served URL: peak clients, refusals, timeouts, auth failures
    report_path: str | None = None  # not in the file

    def to_dict(self) -> dict[str, Any]:
        """The JSON report's fields, in order."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "report_path"}
        if out["output_sha256"] is None:
            del out["output_sha256"]
        if out["network"] is None:
            del out["network"]
        return out

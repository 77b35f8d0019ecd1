"""What ``run_stream`` returns and writes: one ``StreamReport``. Its fields are declared ONCE, here.

The JSON file has the fields it always had, in the same order (``to_dict``): the run (``RunFacts``: version,
start, source, the engine and outputs, the checks asked for, how it ended), the statistics (``StreamCounts``,
which ``StreamStats.counts()`` fills), then the sha256 of the file written (when one was) and the live
source's reconnects (``RunTail``). ``report_path`` is where that file went (None when none was written); it
is not itself in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edgesr.artifact import write_json
from edgesr.errors import EdgeSRError
from edgesr.redact import redact_tree


@dataclass
class RunFacts:
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


@dataclass
class StreamCounts:
    """What ``StreamStats`` measured over the run."""

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
    engine_busy_fraction: float = 0.0  # ~1.0: the engine, not Python, is the bottleneck
    latency_ms: dict[str, dict[str, Any]] = field(default_factory=dict)  # per stage: count, mean, p50, p95...
    psnr: dict[str, Any] = field(default_factory=dict)  # PsnrLog.to_dict()
    warnings: list[str] = field(default_factory=list)


@dataclass
class StreamEntry:
    """One source of a multi-stream run (``streams`` in the report)."""

    source: str
    name: str
    output: list[str]
    frames_in: int
    frames_out: int
    dropped: int
    skipped: int
    ended: str  # why this stream ended
    fps: float
    latency_ms: dict[str, Any]  # end to end: p50, p95
    psnr: dict[str, Any]  # its own checks vs FP32 (PsnrLog.to_dict())
    reconnects: int | None = None  # live sources

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class RunTail:
    output_sha256: str | None = None  # in the file only when a file was written
    live: dict[str, Any] | None = None
    streams: list[dict[str, Any]] | None = None  # multi-stream runs only: one StreamEntry per source
    batches: dict[str, Any] | None = None  # multi-stream runs only: frames per engine call (calls, max, mean)
    network: dict[str, Any] | None = None  # per served URL: peak clients, refusals, timeouts, auth failures
    report_path: str | None = None  # not in the file


@dataclass
class StreamReport(RunTail, StreamCounts, RunFacts):
    """The three parts above, flat and in that order (dataclass fields follow the reversed bases)."""

    def set_counts(self, counts: StreamCounts) -> None:
        for f in fields(StreamCounts):
            setattr(self, f.name, getattr(counts, f.name))

    def to_dict(self) -> dict[str, Any]:
        """The JSON report's fields, in order."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "report_path"}
        for optional in ("output_sha256", "streams", "batches", "network"):  # only when there is one
            if out[optional] is None:
                del out[optional]
        return out


def write_report(report: StreamReport, path: Path | None, error: BaseException | None) -> BaseException | None:
    """Write the report when it has a path; returns the error that ended the run (the first failure ends the
    run; a report that cannot be written comes second). A run that failed never replaces an existing report (the
    output it describes is still there): its own goes beside it as ``<report>.failed.json``."""
    if path is not None:
        if error is not None and path.exists():  # a failed run keeps the earlier output: and its report
            path = path.with_name(path.stem + ".failed.json")
        try:
            write_json(path, redact_tree(report.to_dict()))  # no secret of a source URI in the file
            report.report_path = str(path)
        except EdgeSRError as exc:
            error = error or exc
    return error


def raise_error(error: BaseException | None) -> None:
    """Raise what ended the run as an ``EdgeSRError`` (one line), if anything did."""
    if error is None:
        return
    if isinstance(error, EdgeSRError):
        raise error
    raise EdgeSRError(f"stream failed: {type(error).__name__}: {error}") from error

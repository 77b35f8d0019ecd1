"""Live stream statistics on the terminal (rich), or a plain status line now and then when stderr is not
a terminal (logs, systemd)."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from edgesr.redact import redact
from edgesr.runtime.stats import STAGES, StreamStats


class StatusView:
    def __init__(self, stats: StreamStats, title: str, quiet: bool = False, plain_every: float = 10.0) -> None:
        self.stats, self.title, self.quiet, self.plain_every = stats, title, quiet, plain_every
        self.console = Console(stderr=True)
        self._live: Live | None = None
        self._last_plain = time.perf_counter()

    def __enter__(self) -> StatusView:
        if not self.quiet and self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
        elif not self.quiet and time.perf_counter() - self._last_plain >= self.plain_every:
            self._last_plain = time.perf_counter()
            self.console.print(self.line(), highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        message = redact(message)  # a camera's password never reaches the terminal or the report
        self.stats.warnings.append(message)
        self.console.print(f"warning: {message}", style="yellow", highlight=False, markup=False, soft_wrap=True)

    def line(self) -> str:
        s = self.stats
        infer = s.latency["infer"].quantile(0.5)
        parts = [
            f"frames {s.frames_in} in / {s.frames_out} out",
            f"{s.fps():.1f} fps",
            f"infer p50 {infer * 1e3:.1f} ms" if not math.isnan(infer) else "infer -",
            f"dropped {s.dropped}",
            f"skipped {s.skipped}",
        ]
        if s.psnr.count:
            parts.append(f"PSNR mean {s.psnr.mean:.2f} dB over {s.psnr.count} checks")
        return " | ".join(parts)

    def _render(self) -> Table:
        """Compact: the counters on top, then one row per stage (p50 / p95 / p99 ms)."""
        s = self.stats
        table = Table(title=self.title, title_justify="left", show_header=True, header_style="bold", box=None)
        table.add_column("", style="bold")
        table.add_column("p50 ms", justify="right")
        table.add_column("p95 ms", justify="right")
        table.add_column("p99 ms", justify="right")
        for stage in STAGES:
            h = s.latency[stage]
            cells = ["-"] * 3 if h.n == 0 else [f"{h.quantile(q) * 1e3:.1f}" for q in (0.5, 0.95, 0.99)]
            table.add_row(stage, *cells)
        table.add_row("")
        table.add_row("frames", f"{s.frames_in} in / {s.frames_out} out", f"{s.fps():.1f} fps", "")
        table.add_row("dropped / skipped", f"{s.dropped} / {s.skipped}", "", "")
        if s.psnr.count:
            last = s.psnr.recent[-1][1] if s.psnr.recent else math.nan
            table.add_row(
                "PSNR vs FP32", f"last {last:.2f} dB", f"mean {s.psnr.mean:.2f} dB",
                f"{s.psnr.count} checks, {s.psnr.skipped_busy} skipped",
            )
        return table

"""Live stream statistics on the terminal (rich), or a plain status line now and then when stderr is not
a terminal (logs, systemd)."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

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
        s = self.stats
        table = Table(title=self.title, title_justify="left", show_header=True, header_style="bold")
        table.add_column("frames in/out")
        table.add_column("fps", justify="right")
        table.add_column("dropped", justify="right")
        table.add_column("skipped", justify="right")
        for stage in STAGES:
            table.add_column(f"{stage} p50/p95 ms", justify="right")
        table.add_column("PSNR vs FP32", justify="right")
        lat = []
        for stage in STAGES:
            h = s.latency[stage]
            lat.append("-" if h.n == 0 else f"{h.quantile(0.5) * 1e3:.1f}/{h.quantile(0.95) * 1e3:.1f}")
        if s.psnr.count:
            last = s.psnr.recent[-1][1] if s.psnr.recent else math.nan
            psnr = f"last {last:.2f}, mean {s.psnr.mean:.2f} dB ({s.psnr.count}, {s.psnr.skipped_busy} skipped)"
        else:
            psnr = "-"
        table.add_row(
            f"{s.frames_in}/{s.frames_out}", f"{s.fps():.1f}", str(s.dropped), str(s.skipped), *lat, psnr
        )
        return table

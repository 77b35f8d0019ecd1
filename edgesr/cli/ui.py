"""What the commands share on the terminal: the console, progress bars for long steps, dB numbers."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

Progress = Callable[[str, int], Callable[[int, int], None]]  # start(label, total) -> update(done, total)


def make_console(wide_logs: bool = False) -> Console:
    """A rich console; ``wide_logs``: when writing to a log (not a terminal, no COLUMNS), wide enough for tables."""
    out = Console()
    if wide_logs and not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(width=150)
    return out


console = make_console()


@contextmanager
def progress(on: Console | None = None) -> Iterator[Progress]:
    """Progress bars, shown only once a long step (calibration, the gate) starts."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    bars = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=on or console,
        transient=True,
    )
    started = False

    def start(label: str, total: int) -> Callable[[int, int], None]:
        nonlocal started
        if not started:
            bars.start()
            started = True
        task = bars.add_task(label, total=total)
        return lambda done, _total: bars.update(task, completed=done)

    try:
        yield start
    finally:
        if started:
            bars.stop()


def db(value: float | str | None, unit: str = " dB", inf: str | None = None, none: str = "-") -> str:
    """A PSNR for people: 2 decimals and ``unit``; ``inf`` (default "inf" + unit) for identical outputs, also
    when given as the JSON reports' string "inf"; ``none`` for a number that was not measured."""
    if value is None:
        return none
    if isinstance(value, str) or math.isinf(value):
        return (f"{value}" if isinstance(value, str) else "inf") + unit if inf is None else inf
    return f"{value:.2f}{unit}"

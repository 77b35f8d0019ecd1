"""One line when a command is interrupted (Ctrl-C or SIGTERM), saying what was kept."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer

from edgesr import interrupts


@contextmanager
def interrupted_note(command: str, outputs: Sequence[Path | None]) -> Iterator[None]:
    """On an interrupt inside the block: print which of ``outputs`` this run finished writing (writes are
    atomic, so each is either complete or untouched), then let the interrupt end the command."""
    started = time.time()
    try:
        yield
    except KeyboardInterrupt:
        done: list[str] = []
        untouched: list[str] = []
        for p in outputs:
            if p is None:
                continue
            try:
                fresh = p.exists() and os.stat(p).st_mtime >= started - 1
            except OSError:
                fresh = False
            (done if fresh else untouched).append(str(p))
        what = f"kept the finished {', '.join(done)}" if done else "nothing was written"
        rest = f"; not written (any earlier file is unchanged): {', '.join(untouched)}" if untouched else ""
        interrupts.mark_reported()
        typer.echo(f"{command} interrupted ({interrupts.signal_name()}): {what}{rest}; no temp files left", err=True)
        raise

"""What a run shows and records: a rich progress bar (losses, it/s), ``metrics.jsonl``,
TensorBoard scalars when tensorboard is importable. Only rank 0 builds one."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from edgesr.errors import BadInputError


def open_metrics(path: Path) -> TextIO:
    """``metrics.jsonl`` for appending, line-buffered; never through a symbolic link planted in its place."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise BadInputError(f"{path} is a symbolic link: edgesr never writes a run's metrics through one") from None
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return os.fdopen(fd, "a", buffering=1)


class Monitor:
    def __init__(self, run_dir: Path, total: int, start: int, console: Console, log_every: int) -> None:
        self.console = console
        self.log_every = log_every
        self.metrics = open_metrics(run_dir / "metrics.jsonl")
        self.tb = _tensorboard(run_dir)
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, rate="", losses="")
        self._t_last = time.perf_counter()
        self._step_last = start

    def __enter__(self) -> Monitor:
        self.progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()
        self.metrics.close()
        if self.tb is not None:
            self.tb.close()

    def step(self, step: int, values: dict[str, float], force: bool = False) -> None:
        """Records and shows ``values`` every ``log_every`` steps (and when ``force``)."""
        self.progress.update(self.task, completed=step)
        if step % self.log_every and not force:
            return
        now = time.perf_counter()
        rate = (step - self._step_last) / max(now - self._t_last, 1e-9)
        self._t_last, self._step_last = now, step
        shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items() if k != "lr")
        self.progress.update(self.task, rate=f"{rate:.2f} it/s", losses=shown)
        self.record(step, {**values, "it_s": rate})
        if not self.console.is_terminal:  # a log file: one line per log interval
            self.console.print(f"step {step}  {shown}  lr {values.get('lr', 0):.3g}  {rate:.2f} it/s")

    def record(self, step: int, values: dict[str, Any]) -> None:
        self.metrics.write(json.dumps({"step": step, "time": round(time.time(), 3), **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, step)

    def say(self, text: str) -> None:
        self.progress.console.print(text)


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: metrics.jsonl only
        return None
    return SummaryWriter(log_dir=str(run_dir / "tb"))

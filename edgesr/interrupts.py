"""SIGINT and SIGTERM end every command the same way: the stack unwinds (temp files removed, the last
good artifact kept, reports written), then the process exits 130 (SIGINT) or 143 (SIGTERM).

SIGTERM is turned into ``Terminated``, a ``KeyboardInterrupt``, so every place that already cleans up
after Ctrl-C cleans up after SIGTERM too. Stages that handle the signals themselves (training, the
stream) call ``note`` so that the CLI still exits with the code of the signal that stopped them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

_received: list[int] = []
_reported: list[bool] = [False]


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding the stack like Ctrl-C."""


def note(signum: int) -> None:
    """Record that ``signum`` stopped (or is stopping) the command."""
    _received.append(signum)


def received() -> bool:
    """A signal has stopped (or is stopping) this command."""
    return bool(_received)


def mark_reported() -> None:
    """A command printed its own line about the interrupt (the CLI then adds none)."""
    _reported[0] = True


def reported() -> bool:
    return _reported[0]


def reset() -> None:
    _received.clear()
    _reported[0] = False


def signal_name() -> str:
    return "SIGTERM" if signal.SIGTERM in _received else "Ctrl-C"


def exit_code() -> int:
    """143 if a SIGTERM was received, else 130 (Ctrl-C)."""
    return 128 + signal.SIGTERM if signal.SIGTERM in _received else 128 + signal.SIGINT


def interruption() -> KeyboardInterrupt:
    """The exception of the signal received: ``Terminated`` for SIGTERM, else ``KeyboardInterrupt``."""
    return Terminated() if signal.SIGTERM in _received else KeyboardInterrupt()


def _on_signal(signum: int, _frame: Any) -> None:
    note(signum)  # also for SIGINT: a library that turns the KeyboardInterrupt into another error is still known
    raise interruption()


def install() -> Any:
    """Turn SIGTERM into ``Terminated`` and SIGINT into ``KeyboardInterrupt``, both noted (main thread only).
    Returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}


def restore(old: Any) -> None:
    if old is not None and threading.current_thread() is threading.main_thread():
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def graceful(first: Callable[[int], None], again: Callable[[int], None]) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM call ``first(signum)`` the first time and ``again(signum)``
    after that instead of raising (a stage that stops at its own boundary: a training step, a
    frame); each is noted for the exit code. Outside the main thread it installs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = [0]

    def handler(signum: int, _frame: Any) -> None:
        note(signum)
        hits[0] += 1
        (first if hits[0] == 1 else again)(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

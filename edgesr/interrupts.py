"""SIGINT, SIGTERM and SIGHUP end every command the same way: the stack unwinds (temp files removed, the
last good artifact kept, reports written), then the process exits 130 (SIGINT), 143 (SIGTERM) or 129
(SIGHUP: the ssh session to the device dropped).

SIGTERM and SIGHUP are turned into ``Terminated``, a ``KeyboardInterrupt``, so every place that already
cleans up after Ctrl-C cleans up after them too. Stages that handle the signals themselves (training, the
stream) call ``note`` so that the CLI still exits with the code of the signal that stopped them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from typing import Any

_received: list[int] = []
# the signals that stop a command cleanly (SIGHUP does not exist on Windows)
SIGNALS: tuple[int, ...] = tuple(
    s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None
)
_reported: list[bool] = [False]


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, unwinding the stack like Ctrl-C."""


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


def _stopping_signal() -> int:
    """The signal that decides the exit code: the first one that is not Ctrl-C, else Ctrl-C."""
    return next((s for s in _received if s != signal.SIGINT), signal.SIGINT)


def signal_name() -> str:
    sig = _stopping_signal()
    return "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name


def exit_code() -> int:
    """128 + the stopping signal: 143 (SIGTERM), 129 (SIGHUP), else 130 (Ctrl-C)."""
    return 128 + int(_stopping_signal())


def interruption() -> KeyboardInterrupt:
    """The exception of the signal received: ``Terminated`` for SIGTERM/SIGHUP, else ``KeyboardInterrupt``."""
    return Terminated() if _stopping_signal() != signal.SIGINT else KeyboardInterrupt()


def _detach_terminal(signum: int) -> None:
    """SIGHUP: the terminal is gone, and a write to it would fail (EIO) in the middle of the cleanup: the
    standard streams that were that terminal now go to /dev/null (files and pipes are kept)."""
    if signum != getattr(signal, "SIGHUP", None):
        return
    for fd in (1, 2):
        try:
            if stat.S_ISCHR(os.fstat(fd).st_mode):  # a terminal (isatty fails on one that hung up)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            pass


def _on_signal(signum: int, _frame: Any) -> None:
    _detach_terminal(signum)
    note(signum)  # also for SIGINT: a library that turns the KeyboardInterrupt into another error is still known
    raise interruption()


def install() -> Any:
    """Turn SIGTERM/SIGHUP into ``Terminated`` and SIGINT into ``KeyboardInterrupt``, all noted (main thread
    only). Returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return {s: signal.signal(s, _on_signal) for s in SIGNALS}


def restore(old: Any) -> None:
    if old is not None and threading.current_thread() is threading.main_thread():
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def graceful(first: Callable[[int], None], again: Callable[[int], None]) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM/SIGHUP call ``first(signum)`` the first time and ``again(signum)``
    after that instead of raising (a stage that stops at its own boundary: a training step, a
    frame); each is noted for the exit code. Outside the main thread it installs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = [0]

    def handler(signum: int, _frame: Any) -> None:
        _detach_terminal(signum)
        note(signum)
        hits[0] += 1
        (first if hits[0] == 1 else again)(signum)

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

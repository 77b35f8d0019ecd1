"""Stopping a stream run, from any thread (signal handlers included): ``request_stop`` (stop reading, finish
what is queued), ``abort`` (drop it), ``fail`` (an error that ends the run). The first reason and the first
error win. ``pipeline.Pipeline`` (one source) and ``multistream.MultiPipeline`` (many) share it."""

from __future__ import annotations

import threading


class RunControl:
    def __init__(self) -> None:
        self.reason: str | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()  # stop reading; drain the queues
        self._abort = threading.Event()  # drop what is queued
        self._lock = threading.RLock()  # re-entrant: signal handlers run on the main thread

    def _wake(self) -> None:
        """Wake the threads blocked on input (sources' reads, queues)."""

    def request_stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
        self._stop.set()
        self._wake()

    def abort(self, reason: str, error: BaseException | None = None) -> None:
        """Stop now, dropping queued frames. With ``error``, it is what ended the run (first error wins)."""
        if error is not None:
            self.fail(reason, error)
        else:
            self.request_stop(reason)
        self._abort.set()
        self._wake()

    def fail(self, reason: str, error: BaseException) -> None:
        """Record the error that ends the run: it becomes the reason even if the input had already ended."""
        with self._lock:
            if self.error is None:
                self.error = error
                self.reason = reason
        self.request_stop(reason)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

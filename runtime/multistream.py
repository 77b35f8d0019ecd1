"""Many sources, one runner: frames of the same shape from different streams go through the engine as one
batch (``edgesr stream --source A --source B ...``).

Threads: one reader per stream (its source's read, pre-processing) -> a one- or two-frame mailbox per stream
-> ONE batcher (takes the oldest waiting frame, then, for at most ``batch_timeout_s``, the frames of other
streams with the same shape, up to ``max_batch``; one engine call, or, where the runner takes calls from
several threads at once (ONNX Runtime on the CPU), the batch split into a part per core run at once; splits
the result) -> one writer per stream (post-processing, its FP32 check, its sink). A file source's reader
blocks while its mailbox is full (never a dropped frame); a live source keeps its newest-frame policy
(``live.LiveSource`` counts the drops). A stream whose source ends (end of file, a camera lost past
``--reconnect``) ends alone: the others go on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesr.imageops import to_nchw
from edgesr.runtime.check import ReferenceCheck
from edgesr.runtime.control import RunControl
from edgesr.runtime.pipeline import write_frame
from edgesr.runtime.runner import Runner
from edgesr.runtime.sinks import Sink
from edgesr.runtime.sources import Frame, Source
from edgesr.runtime.stats import LatencyHistogram, StreamStats

END = None


@dataclass(frozen=True)
class BatchConfig:
    max_batch: int = 8  # the engine's max batch (an ONNX without a profile: the number of streams)
    timeout_s: float = 0.010  # how long a batch waits for more frames of its shape (--batch-timeout)
    max_frames: int | None = None  # per stream
    side_by_side: bool = False


@dataclass
class Stream:
    """One source with its sink, statistics and check."""

    index: int
    name: str
    source: Source
    sink: Sink
    stats: StreamStats
    check: ReferenceCheck | None = None
    max_frames: int | None = None  # this stream's own cap (--streams file), else BatchConfig.max_frames
    ended: str | None = None  # why this stream ended (None: still running)
    inbox: deque[tuple[Frame, np.ndarray]] = field(default_factory=deque)
    outbox: deque[Any] = field(default_factory=deque)
    warned: int = 0

    @property
    def capacity(self) -> int:
        return 1 if self.source.live else 2


@dataclass
class BatchLog:
    """Frames per engine call."""

    calls: int = 0
    frames: int = 0
    max: int = 0

    def add(self, n: int) -> None:
        self.calls += 1
        self.frames += n
        self.max = max(self.max, n)

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "max": self.max, "mean": round(self.frames / self.calls, 3) if self.calls else 0}


class MultiPipeline(RunControl):
    """Same control surface as ``pipeline.Pipeline`` (``run``, ``request_stop``, ``abort``, ``reason``, ``error``)."""

    def __init__(self, streams: list[Stream], runner: Runner, config: BatchConfig, warn: Callable[[str], None]):
        super().__init__()
        self.streams, self.runner, self.config, self.warn = streams, runner, config, warn
        self.batches = BatchLog()
        self.infer_latency = LatencyHistogram()  # per engine call (a batch)
        self._cond = threading.Condition()
        self._readers_done = 0
        self._pool: ThreadPoolExecutor | None = None  # the batch's other parts (runner.concurrent_calls > 1)

    def _wake(self) -> None:
        for s in self.streams:
            s.source.interrupt()
        with self._cond:
            self._cond.notify_all()

    # -- run ----------------------------------------------------------------------------------------------------
    def run(self, monitor: Callable[[], None] | None = None, monitor_every: float = 0.25) -> str:
        threads = [threading.Thread(target=self._guard, args=(self._read, s), name=f"edgesr-read-{s.index}",
                                    daemon=True) for s in self.streams]
        threads.append(threading.Thread(target=self._guard, args=(self._batch, None), name="edgesr-batch",
                                        daemon=True))
        writers = [threading.Thread(target=self._guard, args=(self._write, s), name=f"edgesr-write-{s.index}",
                                    daemon=True) for s in self.streams]
        for t in threads + writers:
            t.start()
        last = 0.0
        while any(t.is_alive() for t in writers):
            writers[0].join(0.02)
            for s in self.streams:
                s.sink.pump()
            self._poll()
            now = time.perf_counter()
            if monitor is not None and now - last >= monitor_every:
                last = now
                monitor()
        for t in threads + writers:
            t.join()
        if self._pool is not None:
            self._pool.shutdown()
        self._poll()
        ended = {s.ended for s in self.streams}
        return self.reason or (ended.pop() or "end of input" if len(ended) == 1 else "every stream ended")

    def _poll(self) -> None:
        for s in self.streams:
            if s.check is not None:
                if s.check.error is not None and self.error is None:
                    self.abort(f"error in the reference check of stream {s.index}", s.check.error)
                elif s.check.failure is not None and self.error is None:
                    self.fail("accuracy check failed (--fail-below)", s.check.failure)
            if s.sink.wants_stop:
                self.request_stop(s.sink.wants_stop)
            warnings = s.source.warnings
            while s.warned < len(warnings):
                self.warn(f"[{s.name}] {warnings[s.warned]}")
                s.warned += 1
            s.stats.dropped, s.stats.skipped = s.source.dropped, s.source.skipped

    def _guard(self, loop: Callable[[Any], None], arg: Any) -> None:
        try:
            loop(arg)
        except BaseException as exc:
            self.abort(f"error: {exc}", exc)

    # -- stages -------------------------------------------------------------------------------------------------
    def _read(self, s: Stream) -> None:
        lat, cap = s.stats.latency, s.max_frames if s.max_frames is not None else self.config.max_frames
        try:
            while not self._stop.is_set():
                if cap is not None and s.stats.frames_in >= cap:
                    s.ended = f"max frames reached ({cap})"
                    break
                t0 = time.perf_counter()
                frame = s.source.read()
                t1 = time.perf_counter()
                if frame is None:
                    s.ended = s.source.end_reason
                    break
                x = to_nchw(frame.image)
                lat["capture"].add(t1 - t0)
                lat["preprocess"].add(time.perf_counter() - t1)
                s.stats.frames_in += 1
                with self._cond:
                    while len(s.inbox) >= s.capacity and not self._abort.is_set():
                        self._cond.wait(0.1)
                    s.inbox.append((frame, x))
                    self._cond.notify_all()
        finally:
            s.ended = s.ended or self.reason or "stopped"
            with self._cond:
                self._readers_done += 1
                self._cond.notify_all()

    def _take(self) -> list[tuple[Stream, Frame, np.ndarray]] | None:
        """The next batch: the oldest waiting frame, plus same-shape frames of other streams that arrive within
        the timeout. None when every reader is done and every inbox is empty (or on abort)."""
        cfg = self.config
        with self._cond:
            while True:
                if self._abort.is_set():
                    return None
                waiting = [s for s in self.streams if s.inbox]
                if waiting:
                    break
                if self._readers_done == len(self.streams):
                    return None
                self._cond.wait(0.1)
            first = min(waiting, key=lambda s: s.inbox[0][0].captured)
            shape = first.inbox[0][1].shape
            batch = [(first, *first.inbox.popleft())]
            deadline = time.perf_counter() + cfg.timeout_s
            while len(batch) < cfg.max_batch:
                taken = {b[0].index for b in batch}
                for s in self.streams:
                    if len(batch) < cfg.max_batch and s.index not in taken and s.inbox and s.inbox[0][1].shape == shape:
                        batch.append((s, *s.inbox.popleft()))
                        taken.add(s.index)
                open_ = [s for s in self.streams if s.index not in taken and s.ended is None]
                left = deadline - time.perf_counter()
                if len(batch) >= cfg.max_batch or not open_ or left <= 0:
                    break
                self._cond.wait(left)
            self._cond.notify_all()  # room in the inboxes
            return batch

    def _batch(self, _: None) -> None:
        lat = self.infer_latency
        try:
            while True:
                batch = self._take()
                if batch is None:
                    break
                x = batch[0][2] if len(batch) == 1 else np.concatenate([b[2] for b in batch])
                t0 = time.perf_counter()
                y = self._infer(x)
                dt = time.perf_counter() - t0
                lat.add(dt)
                self.batches.add(len(batch))
                for k, (s, frame, xi) in enumerate(batch):
                    s.stats.latency["infer"].add(dt)
                    with self._cond:
                        while len(s.outbox) >= 2 and not self._abort.is_set():
                            self._cond.wait(0.1)
                        s.outbox.append((frame, xi, y[k : k + 1]))
                        self._cond.notify_all()
        finally:
            with self._cond:
                for s in self.streams:
                    s.outbox.append(END)
                self._cond.notify_all()

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """One batch through the runner: split into up to ``runner.concurrent_calls`` parts that run at once
        (ONNX Runtime on the CPU: a part per core, as separate processes would run them), in order."""
        parts = min(len(x), self.runner.concurrent_calls)
        if parts <= 1:
            return self.runner.infer(x)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.runner.concurrent_calls - 1, thread_name_prefix="edgesr-infer")
        chunks = np.array_split(x, parts)
        rest = [self._pool.submit(self.runner.infer, c) for c in chunks[1:]]
        first = self.runner.infer(chunks[0])
        return np.concatenate([first, *(f.result() for f in rest)])

    def _write(self, s: Stream) -> None:
        scale = self.runner.spec.scale
        while True:
            with self._cond:
                while not s.outbox and not self._abort.is_set():
                    self._cond.wait(0.1)
                if self._abort.is_set() or s.outbox[0] is END:
                    return
                frame, x, y = s.outbox.popleft()
                self._cond.notify_all()
            write_frame(frame, x, y, s.sink, s.stats, s.check, scale, self.config.side_by_side)

"""The streaming pipeline: capture + pre-process | infer | post-process + write, overlapped in three
threads joined by small bounded queues (memory stays flat, frame order is preserved: one thread per
stage, FIFO queues). The engine call releases the GIL (ONNX Runtime, TensorRT), so while it runs the
other threads decode, convert and encode: the engine is the bottleneck, not Python.

Stopping: ``request_stop`` (end of input, Ctrl-C, ``--max-frames``, a failed accuracy check) stops
reading and lets the frames already in the queues finish, so nothing read is lost; ``abort`` (an error,
a second Ctrl-C) drops them. Either way the caller then finalises the sink and writes the report.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgesr.imageops import from_nchw, to_nchw
from edgesr.runtime.check import ReferenceCheck
from edgesr.runtime.compose import side_by_side
from edgesr.runtime.control import RunControl
from edgesr.runtime.sinks import Sink
from edgesr.runtime.sources import Frame, Source
from edgesr.runtime.stats import StreamStats
from edgesr.runtime.tiling import Tiler

END = object()


@dataclass(frozen=True)
class PipelineConfig:
    max_frames: int | None = None
    side_by_side: bool = False
    queue_size: int = 2  # per queue; live sources use 1 so latency stays low


class Pipeline(RunControl):
    def __init__(
        self,
        source: Source,
        tiler: Tiler,
        sink: Sink,
        stats: StreamStats,
        config: PipelineConfig | None = None,
        check: ReferenceCheck | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.source, self.tiler, self.runner, self.sink = source, tiler, tiler.runner, sink
        self.stats, self.check = stats, check
        self.config = config or PipelineConfig()
        self.warn = warn or stats.warnings.append
        size = 1 if source.live else self.config.queue_size
        self.q_in: queue.Queue[Any] = queue.Queue(maxsize=size)
        self.q_out: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._source_warnings = 0

    def _wake(self) -> None:
        self.source.interrupt()

    # -- run ----------------------------------------------------------------------------------------------------
    def run(self, monitor: Callable[[], None] | None = None, monitor_every: float = 0.25) -> str:
        """Run to the end; returns why it ended. ``self.error`` holds a failure the caller must raise."""
        threads = [
            threading.Thread(target=self._guard, args=(self._read_loop,), name="edgesr-read", daemon=True),
            threading.Thread(target=self._guard, args=(self._infer_loop,), name="edgesr-infer", daemon=True),
            threading.Thread(target=self._guard, args=(self._write_loop,), name="edgesr-write", daemon=True),
        ]
        for t in threads:
            t.start()
        last = 0.0
        while any(t.is_alive() for t in threads):
            threads[-1].join(0.02)
            self.sink.pump()
            self._poll()
            now = time.perf_counter()
            if monitor is not None and now - last >= monitor_every:
                last = now
                monitor()
        for t in threads:
            t.join()
        self._poll()
        return self.reason or "end of input"

    def _poll(self) -> None:
        """Main-thread checks: accuracy gate, reference errors, a closed window, new source warnings."""
        if self.check is not None:
            if self.check.error is not None and self.error is None:
                self.abort("error in the reference check", self.check.error)
            elif self.check.failure is not None and self.error is None:
                self.fail("accuracy check failed (--fail-below)", self.check.failure)
        wants = self.sink.wants_stop
        if wants:
            self.request_stop(wants)
        warnings = self.source.warnings
        while self._source_warnings < len(warnings):
            self.warn(warnings[self._source_warnings])
            self._source_warnings += 1
        self.stats.dropped, self.stats.skipped = self.source.dropped, self.source.skipped

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as exc:
            self.abort(f"error: {exc}", exc)

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self._abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue[Any]) -> Any:
        while not self._abort.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return END

    # -- stage threads -----------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        lat = self.stats.latency
        try:
            while not self._stop.is_set():
                if self.config.max_frames is not None and self.stats.frames_in >= self.config.max_frames:
                    self.request_stop(f"max frames reached ({self.config.max_frames})")
                    break
                t0 = time.perf_counter()
                frame = self.source.read()
                t1 = time.perf_counter()
                if frame is None:
                    self.request_stop(self.source.end_reason)
                    break
                x = to_nchw(frame.image)
                lat["capture"].add(t1 - t0)
                lat["preprocess"].add(time.perf_counter() - t1)
                self.stats.frames_in += 1
                if not self._put(self.q_in, (frame, x)):
                    break
        finally:
            self._put(self.q_in, END)

    def _infer_loop(self) -> None:
        tiler, lat = self.tiler, self.stats.latency["infer"]
        pending: deque[tuple[Frame, Any, Any, float]] = deque()

        def finish_oldest() -> bool:
            frame, x, ticket, t0 = pending.popleft()
            y = tiler.result(ticket)
            if y is None:  # aborted between tiles (a second Ctrl-C, an error elsewhere)
                return False
            lat.add(time.perf_counter() - t0)
            return self._put(self.q_out, (frame, x, y))

        try:
            while True:
                item = self._get(self.q_in)
                if item is END:
                    break
                frame, x = item
                self.stats.tiles_per_frame = tiler.tiles_for(*x.shape[2:])
                t0 = time.perf_counter()
                pending.append((frame, x, tiler.submit(x, cancelled=self._abort.is_set), t0))
                if len(pending) >= tiler.max_in_flight and not finish_oldest():
                    break
            while pending and not self._abort.is_set():
                if not finish_oldest():
                    break
        finally:
            self._put(self.q_out, END)

    def _write_loop(self) -> None:
        scale = self.runner.spec.scale
        while True:
            item = self._get(self.q_out)
            if item is END:
                break
            frame, x, y = item
            write_frame(frame, x, y, self.sink, self.stats, self.check, scale, self.config.side_by_side)



def write_frame(frame: Frame, x: Any, y: Any, sink: Sink, stats: StreamStats, check: ReferenceCheck | None,
                scale: int, compare: bool) -> None:
    """The write stage of one frame (both pipelines): post-process, hand it to the FP32 check when due (never
    waits: a busy reference skips the check, counted), write, count."""
    lat = stats.latency
    t0 = time.perf_counter()
    sr = from_nchw(y)[0]
    if check is not None and check.due(frame.index):
        check.offer(frame.index, x, sr)
    image = side_by_side(frame.image, sr, scale) if compare else sr
    t1 = time.perf_counter()
    sink.write(frame, image)
    t2 = time.perf_counter()
    lat["postprocess"].add(t1 - t0)
    lat["write"].add(t2 - t1)
    lat["end_to_end"].add(t2 - frame.captured)
    stats.input_hw, stats.output_hw = frame.image.shape[:2], image.shape[:2]
    stats.frame_written()

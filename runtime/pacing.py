"""``--realtime``: read a file source at its own frame rate, as a camera would deliver it (for serving a
recording over RTSP / the live view at its real speed, or rehearsing a camera run). Live sources are
paced by their device already and are never wrapped."""

from __future__ import annotations

import time

from edgesr.runtime.sources import Frame, Source


class PacedSource(Source):
    """Delays ``read`` until the frame's presentation time (or ``index / rate``) since the first frame."""

    def __init__(self, inner: Source) -> None:
        super().__init__()
        self.inner = inner
        self.uri, self.live, self.rate, self.audio_path = inner.uri, inner.live, inner.rate, inner.audio_path
        self.warnings = inner.warnings
        self._t0: float | None = None
        self._interrupted = False

    def read(self) -> Frame | None:
        frame = self.inner.read()
        if frame is None or self.live:
            return frame
        now = time.perf_counter()
        due = frame.time if frame.time is not None else frame.index / float(self.rate or 30)
        if self._t0 is None:
            self._t0 = now - due  # the first frame is due now
        wait = self._t0 + due - now
        while wait > 0 and not self._interrupted:
            time.sleep(min(wait, 0.1))
            wait = self._t0 + due - time.perf_counter()
        frame.captured = time.perf_counter()
        return frame

    # counters and the end reason are the inner source's
    @property  # type: ignore[override]
    def dropped(self) -> int:
        return self.inner.dropped

    @property  # type: ignore[override]
    def skipped(self) -> int:
        return self.inner.skipped

    @property  # type: ignore[override]
    def end_reason(self) -> str:
        return self.inner.end_reason

    @property
    def reconnects(self) -> int:
        return int(getattr(self.inner, "reconnects", 0))

    def interrupt(self) -> None:
        self._interrupted = True
        self.inner.interrupt()

    def close(self) -> None:
        self.inner.close()

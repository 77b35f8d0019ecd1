"""``-o http://:PORT``: a live view of the stream in a browser, served by the stream itself with the
standard library (``ThreadingHTTPServer``; one thread per connection).

=================  ==============================================================================
``/``              the page (``liveview_page``): frame, PSNR banner, fps, latency, drops, checks
``/frame.jpg``     the newest frame as JPEG (``?view=compare``: bicubic | SR side by side);
                   headers ``X-Frame-Index``, ``X-Frame-Count``
``/stream.mjpg``   the same as MJPEG (multipart/x-mixed-replace), for players and ``<img>``
``/stats.json``    the live figures (what the report will say, so far) and the check state
=================  ==============================================================================

The writer thread only swaps a reference to the newest image (no copy, no encoding): viewers never slow
the stream. JPEGs are encoded in the HTTP threads, once per frame and view however many viewers there
are, and only while someone is watching; a slow viewer gets the newest frame when it is ready for one.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edgesr.errors import DeviceError
from edgesr.redact import public_tree
from edgesr.runtime.compose import side_by_side
from edgesr.runtime.liveview_http import GuardedHandler, HardenedServer
from edgesr.runtime.liveview_page import render_page
from edgesr.runtime.outputs import LiveContext, NetAddress
from edgesr.runtime.serve_policy import ServePolicy, tls_context
from edgesr.runtime.sinks import Sink
from edgesr.runtime.sources import Frame

JPEG_QUALITY = 90
MAX_FPS = 15.0
BOUNDARY = "edgesr-frame"


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    # 4:4:4: chroma subsampling would blur exactly the detail an operator looks at
    Image.fromarray(np.ascontiguousarray(image)).save(buf, "JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def check_state(psnr: Any, min_psnr: float | None, fail_below: float | None) -> str:
    """'none' (no check yet), 'failing' (mean < --fail-below), 'below_min' (last check < --min-psnr), 'ok'."""
    if not psnr.count:
        return "none"
    mean = psnr.mean
    if fail_below is not None and not math.isnan(mean) and mean < fail_below:
        return "failing"
    last = psnr.recent[-1][1] if psnr.recent else math.nan
    if min_psnr is not None and last < min_psnr:
        return "below_min"
    return "ok"


class LiveViewSink(Sink):
    def __init__(self, address: NetAddress, context: LiveContext, max_fps: float = MAX_FPS) -> None:
        self.address, self.context, self.max_fps = address, context, max_fps
        self.ended: str | None = None
        self._cond = threading.Condition()
        self._latest: tuple[Frame, np.ndarray] | None = None
        self._seq = 0
        self._closing = False
        self._jpegs: dict[str, tuple[int, bytes, int]] = {}  # view -> (seq, jpeg, frame index)
        self._encode_lock = threading.Lock()
        self.viewers = 0  # MJPEG connections now
        self.jpegs_served = 0  # frames sent so far (page and MJPEG)
        policy = getattr(context, "serve", None) or ServePolicy()
        try:
            self.server = HardenedServer((address.host, address.port), _handler(self), policy, tls_context(policy))
        except OSError as exc:
            raise DeviceError(
                f"cannot serve the live view on {address.host}:{address.port}: {exc.strerror or exc}"
            ) from None
        self.port = self.server.server_address[1]
        host = "localhost" if address.host == "127.0.0.1" else address.host
        host = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if policy.tls else 'http'}://{host}:{self.port}/"
        scope = (
            "loopback only; --listen 0.0.0.0 serves the network"
            if address.loopback_only
            else f"listening on {address.host}, reachable from the network"
        )
        guard = "password required" if policy.credentials else "no password"
        self.description = f"live view {self.url}"
        self.notes = [f"live view: {self.url} ({scope}; {guard}; at most {policy.max_clients} viewers)"]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.2,), name="edgesr-http", daemon=True)
        self._thread.start()

    # -- the writer thread's side: constant and cheap ------------------------------------------------------
    def write(self, frame: Frame, image: np.ndarray) -> None:
        with self._cond:
            self._latest = (frame, image)
            self._seq += 1
            self._cond.notify_all()

    def close(self, complete: bool = True) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5.0)

    # -- the HTTP threads' side --------------------------------------------------------------------------
    def wait_frame(self, after: int, timeout: float) -> int:
        """The newest frame sequence number once it is > ``after`` (or the current one after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq <= after and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._seq

    def count_viewer(self, delta: int) -> None:
        with self._cond:
            self.viewers += delta

    def count_served(self) -> None:
        with self._cond:
            self.jpegs_served += 1

    @property
    def closing(self) -> bool:
        return self._closing

    def jpeg(self, view: str) -> tuple[int, bytes, int] | None:
        """(seq, JPEG bytes, frame index) of the newest frame in ``view`` ('sr' or 'compare'); cached per frame."""
        with self._cond:
            latest, seq = self._latest, self._seq
        if latest is None:
            return None
        with self._encode_lock:
            cached = self._jpegs.get(view)
            if cached is not None and cached[0] == seq:
                return cached
            frame, image = latest
            if view == "compare":
                image = self._compare(frame.image, image)
            out = (seq, encode_jpeg(image), frame.index)
            self._jpegs[view] = out
            return out

    @staticmethod
    def _compare(lr: np.ndarray, image: np.ndarray) -> np.ndarray:
        scale = max(1, round(image.shape[0] / lr.shape[0]))
        if image.shape[1] >= 2 * lr.shape[1] * scale:  # already side by side (--side-by-side)
            return image
        return side_by_side(lr, image, scale)

    def figures(self) -> dict[str, Any]:
        stats, check = self.context.stats, self.context.check
        with self._cond:
            latest = self._latest
        psnr = stats.psnr.to_dict()
        psnr["values"] = psnr["values"][-10:]
        psnr["last_db"] = psnr["values"][-1]["psnr_db"] if psnr["values"] else None
        return public_tree({  # nothing served names a password or a folder of this machine
            "title": self.context.title,
            "frame_index": latest[0].index if latest else None,
            "frames_in": stats.frames_in,
            "frames_out": stats.frames_out,
            "fps": round(stats.fps(), 2),
            "steady_fps": round(stats.steady_fps(), 2),
            "dropped": stats.dropped,
            "skipped": stats.skipped,
            "input_hw": list(stats.input_hw) if stats.input_hw else None,
            "output_hw": list(stats.output_hw) if stats.output_hw else None,
            "latency_ms": {
                s: {k: v for k, v in h.summary_ms().items() if k in ("p50", "p95", "p99")}
                for s, h in stats.latency.items()
            },
            "psnr": psnr,
            "check_every": check.every,
            "checks_note": self.context.checks_note,
            "min_psnr": check.min_psnr,
            "fail_below": check.fail_below,
            "state": check_state(stats.psnr, check.min_psnr, check.fail_below),
            "viewers": self.viewers,
            "connections": self.server.counters.clients,
            "jpegs_served": self.jpegs_served,
            "uptime_s": round(stats.elapsed(), 1),
            "ended": self.ended,
        })

    @property
    def network(self) -> dict[str, int]:
        """For the report: peak clients, refusals (busy, foreign Host), timeouts, failed logins."""
        return self.server.counters.to_dict()


def _handler(sink: LiveViewSink) -> type[GuardedHandler]:
    class Handler(GuardedHandler):
        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            if not self.allowed():
                return
            url = urlsplit(self.path)
            view = parse_qs(url.query).get("view", ["sr"])[0]
            if view not in ("sr", "compare"):
                self.send_body(400, "text/plain", b"view must be sr or compare\n")
            elif url.path in ("/", "/index.html"):
                self.send_body(200, "text/html; charset=utf-8", render_page(sink.max_fps, sink.figures(), view))
            elif url.path == "/stats.json":
                self.send_body(200, "application/json", json.dumps(sink.figures()).encode())
            elif url.path == "/frame.jpg":
                got = sink.jpeg(view) if sink.wait_frame(0, 5.0) else None
                if got is None:
                    self.send_body(503, "text/plain", b"no frame yet\n", {"Retry-After": "1"})
                else:
                    seq, jpg, index = got
                    self.send_body(200, "image/jpeg", jpg, {"X-Frame-Index": str(index), "X-Frame-Count": str(seq)})
                    sink.count_served()
            elif url.path == "/stream.mjpg":
                self._mjpeg(view)
            else:
                self.send_body(404, "text/plain", b"not found: try / /frame.jpg /stream.mjpg /stats.json\n")

        def _mjpeg(self, view: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if self.command == "HEAD":  # the headers of an endless body, and no body
                return
            sink.count_viewer(+1)
            sent, period, last = 0, 1.0 / sink.max_fps, 0.0
            try:
                while not sink.closing:
                    time.sleep(max(0.0, period - (time.monotonic() - last)))
                    sink.wait_frame(sent, 1.0)
                    got = sink.jpeg(view)
                    if got is None or got[0] <= sent or sink.closing:
                        continue
                    sent, jpg, index = got
                    last = time.monotonic()
                    head = (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n"
                        f"X-Frame-Index: {index}\r\n\r\n"
                    ).encode()
                    self.wfile.write(head + jpg + b"\r\n")
                    self.wfile.flush()
                    sink.count_served()
            except OSError:  # the viewer went away or stopped reading for WRITE_TIMEOUT_S
                pass
            finally:
                sink.count_viewer(-1)

    return Handler

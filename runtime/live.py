"""Live sources through OpenCV: V4L2 cameras, Jetson CSI cameras (GStreamer), network streams, raw
GStreamer pipelines.

A grabber thread reads the device as fast as it delivers and keeps only the newest frame: when the
pipeline is behind, older frames are replaced and counted as dropped, so latency stays one frame.
A device that stops delivering (unplugged camera, network cut) is reopened with exponential backoff for
``LiveOptions.reconnect_s`` seconds; after that the source ends and ``end_reason`` says why.

OpenCV is optional (``pip install 'edgesr[video]'``; on a Jetson use JetPack's OpenCV, which has
GStreamer): it is imported only when a live source is opened.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.errors import DeviceError, require
from edgesr.runtime.sources import CAMERA_RE, NETWORK_SCHEMES, Frame, LiveOptions, Source

Opener = Callable[[], Any]  # returns a cv2.VideoCapture (or anything with isOpened/read/release/get)


def _cv2() -> Any:
    return require("cv2", extra="video", why="needed for cameras and network streams")


def opencv_has_gstreamer(cv2: Any) -> bool:
    m = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
    return bool(m and m.group(1).upper() not in ("NO", "OFF"))


def csi_pipeline(sensor: int, opts: LiveOptions) -> str:
    """The usual JetPack CSI pipeline: NVMM capture, nvvidconv to BGRx, videoconvert to BGR, latest frame only."""
    (h, w), fps = opts.size or (720, 1280), opts.fps or 30
    return (
        f"nvarguscamerasrc sensor-id={sensor} ! "
        f"video/x-raw(memory:NVMM), width=(int){w}, height=(int){h}, "
        f"framerate=(fraction){fps}/1 ! nvvidconv ! video/x-raw, format=(string)BGRx ! "
        "videoconvert ! video/x-raw, format=(string)BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def open_live(uri: str, opts: LiveOptions) -> LiveSource:
    cv2 = _cv2()
    m = CAMERA_RE.match(uri)
    if m:
        device = f"/dev/video{m.group(1)}"
        if sys.platform.startswith("linux") and not Path(device).exists():
            raise DeviceError(f"camera {device} not found (no such device; `ls /dev/video*` lists the cameras)")
        index = int(m.group(1))
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY

        def opener() -> Any:
            cap = cv2.VideoCapture(index, api)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver queue short: we want the newest frame
            if opts.size is not None:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, opts.size[0])
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, opts.size[1])
            if opts.fps is not None:
                cap.set(cv2.CAP_PROP_FPS, opts.fps)
            return cap

        return LiveSource(uri, f"camera {device}", opener, opts)
    if uri.startswith("csi://") or "!" in uri:
        if not opencv_has_gstreamer(cv2):
            raise DeviceError(
                f"{uri.split(' ')[0]} needs OpenCV built with GStreamer (JetPack's python3-opencv); this OpenCV "
                f"{cv2.__version__} has none (pip's opencv-python shadows it: pip uninstall opencv-python-headless)"
            )
        if uri.startswith("csi://"):
            sensor = uri[len("csi://") :]
            if not sensor.isdigit():
                raise DeviceError(f"expected csi://N with a sensor number, got {uri}")
            pipeline, name = csi_pipeline(int(sensor), opts), f"CSI camera {sensor}"
        else:
            pipeline, name = uri, "GStreamer pipeline"
        return LiveSource(uri, name, lambda: cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER), opts)
    if uri.startswith(NETWORK_SCHEMES):
        return LiveSource(uri, f"stream {uri}", lambda: cv2.VideoCapture(uri), opts)
    raise DeviceError(f"not a live source URI: {uri}")


class LiveSource(Source):
    """Newest-frame-only reader of an OpenCV capture, with reconnection."""

    live = True

    def __init__(self, uri: str, name: str, opener: Opener, opts: LiveOptions) -> None:
        super().__init__()
        self.uri, self.name, self._opener, self.opts = uri, name, opener, opts
        self._cv2 = _cv2()
        cap = opener()
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"cannot open {name} ({uri}): missing, busy, or not a capture device")
        fps = float(cap.get(self._cv2.CAP_PROP_FPS) or 0.0)
        self.rate = Fraction(fps).limit_denominator(1001) if 0 < fps < 1000 else None
        self.reconnects = 0
        self._t0: float | None = None
        self._cap = cap
        self._cond = threading.Condition()
        self._slot: tuple[np.ndarray, float] | None = None
        self._ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab, name=f"edgesr-grab-{name}", daemon=True)
        self._thread.start()

    # -- grabber thread --------------------------------------------------------------------------------------
    def _grab(self) -> None:
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    if not self._reconnect():
                        return
                    continue
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = (bgr, time.perf_counter())
                    self._cond.notify_all()
        except Exception as exc:  # OpenCV errors end the source with the reason, never silently
            self.end_reason = f"{self.name} failed: {exc}"
        finally:
            self._cap.release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Reopen with backoff until ``reconnect_s`` has passed; False (and the reason set) if it never comes back."""
        lost = time.monotonic()
        delay = 0.1
        self._cap.release()
        while not self._stop.is_set():
            if time.monotonic() - lost >= self.opts.reconnect_s:
                self.end_reason = f"{self.name} lost: no frames for {self.opts.reconnect_s:g} s (retried with backoff)"
                return False
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)
            cap = self._opener()
            if cap.isOpened():
                ok, bgr = cap.read()
                if ok and bgr is not None:
                    self._cap = cap
                    self.reconnects += 1
                    self.warnings.append(f"{self.name} reconnected after {time.monotonic() - lost:.1f} s")
                    with self._cond:
                        if self._slot is not None:
                            self.dropped += 1
                        self._slot = (bgr, time.perf_counter())
                        self._cond.notify_all()
                    return True
            cap.release()
        self.end_reason = "stopped"
        return False

    # -- consumer side ------------------------------------------------------------------------------------------
    def read(self) -> Frame | None:
        with self._cond:
            while self._slot is None and not self._ended and not self._stop.is_set():
                self._cond.wait(0.5)
            if self._slot is None:
                return None
            bgr, captured = self._slot
            self._slot = None
        rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else np.repeat(bgr[..., None], 3, 2)
        if self._t0 is None:
            self._t0 = captured
        # wall-clock timestamps: a recording keeps real time even when frames were dropped
        f = self._frame(np.ascontiguousarray(rgb, dtype=np.uint8), captured - self._t0)
        f.captured = captured
        return f

    def interrupt(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self.interrupt()
        self._thread.join(timeout=5.0)

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

import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.errors import DeviceError, require
from edgesr.runtime.gst import missing_elements, pipeline_elements
from edgesr.runtime.sources import Frame, LiveOptions, Source

Opener = Callable[[], Any]  # returns a cv2.VideoCapture (or anything with isOpened/read/release/get)


def _cv2() -> Any:
    if not os.environ.get("EDGESR_DEBUG"):  # FFmpeg's and OpenCV's own chatter would break the status view;
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # every failure becomes our one-line error
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    return require("cv2", extra="video", why="needed for cameras and network streams")


def opencv_has_gstreamer(cv2: Any) -> bool:
    return _opencv_has(cv2, "GStreamer")


def _opencv_has(cv2: Any, backend: str) -> bool:
    m = re.search(rf"{backend}:\s*(\S+)", cv2.getBuildInformation())
    return bool(m and m.group(1).upper() not in ("NO", "OFF"))


def network_timeout_s(opts: LiveOptions) -> float:
    """How long one open or read of a network stream may block: half of --reconnect, 1 to 5 s. Without it
    OpenCV's FFmpeg waits 30 s on a silent (cut, not closed) connection, far past --reconnect."""
    return min(5.0, max(1.0, opts.reconnect_s / 2))


def _network_opener(cv2: Any, uri: str, opts: LiveOptions) -> Opener:
    if _opencv_has(cv2, "FFMPEG") and hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):
        ms = int(network_timeout_s(opts) * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return lambda: cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)
    return lambda: cv2.VideoCapture(uri)  # GStreamer-only builds: uridecodebin picks the protocol


def _why_not_open(uri: str, timeout_s: float) -> str:
    """A short diagnosis of a network stream that did not open: nobody listening, or a server that refused."""
    m = re.match(r"^[a-z]+://(?:[^@/]*@)?(\[[^\]]+\]|[^:/?]+)(?::(\d+))?", uri)
    if m is None or uri.startswith("udp://"):
        return f"no video arrived within {timeout_s:g} s"
    host, port = m.group(1).strip("[]"), m.group(2)
    default_ports = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443}
    port_n = int(port) if port else default_ports[uri.split(":")[0]]
    try:
        with socket.create_connection((host, port_n), timeout=2.0):
            pass
    except OSError as exc:
        return f"cannot connect to {host}:{port_n} ({exc.strerror or exc})"
    return f"{host}:{port_n} answers but gave no video at this address (wrong path or credentials?)"


def csi_pipeline(sensor: int, opts: LiveOptions) -> str:
    """The usual JetPack CSI pipeline: NVMM capture, nvvidconv to BGRx, videoconvert to BGR, latest frame only."""
    (h, w), fps = opts.size or (720, 1280), opts.fps or 30
    return (
        f"nvarguscamerasrc sensor-id={sensor} ! "
        f"video/x-raw(memory:NVMM), width=(int){w}, height=(int){h}, "
        f"framerate=(fraction){fps}/1 ! nvvidconv ! video/x-raw, format=(string)BGRx ! "
        "videoconvert ! video/x-raw, format=(string)BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def open_camera(uri: str, index: int, opts: LiveOptions) -> LiveSource:
    """A V4L2 camera (``/dev/videoN``, ``N``, ``v4l2:///dev/videoN``)."""
    cv2 = _cv2()
    device = f"/dev/video{index}"
    if sys.platform.startswith("linux") and not Path(device).exists():
        raise DeviceError(f"camera {device} not found (no such device; `ls /dev/video*` lists the cameras)")
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


def open_csi(uri: str, sensor: str, opts: LiveOptions) -> LiveSource:
    """A Jetson CSI camera (``csi://N``) through the usual nvarguscamerasrc pipeline."""
    return _gstreamer(uri, csi_pipeline(int(sensor), opts), f"CSI camera {sensor}", uri, opts)


def open_pipeline(uri: str, opts: LiveOptions) -> LiveSource:
    """A raw GStreamer pipeline ending in appsink."""
    return _gstreamer(uri, uri, "GStreamer pipeline", "GStreamer pipeline", opts)


def _gstreamer(uri: str, pipeline: str, name: str, called: str, opts: LiveOptions) -> LiveSource:
    cv2 = _cv2()
    if not opencv_has_gstreamer(cv2):
        raise DeviceError(
            f"{uri.split(' ')[0]} needs OpenCV built with GStreamer (JetPack's python3-opencv); this OpenCV "
            f"{cv2.__version__} has none (pip's opencv-python shadows it: pip uninstall opencv-python-headless)"
        )
    missing = missing_elements(pipeline_elements(pipeline))
    if missing:
        where = " (NVIDIA's Argus camera plugin: JetPack on a Jetson)" if "nvarguscamerasrc" in missing else ""
        raise DeviceError(
            f"{called} needs the GStreamer element(s) {', '.join(missing)}, which this machine does not have{where}"
        )
    return LiveSource(uri, name, lambda: cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER), opts)


def open_network(uri: str, opts: LiveOptions) -> LiveSource:
    """A network stream (rtsp://, http(s)://, rtmp://, udp://) through OpenCV's FFmpeg (or GStreamer)."""
    cv2 = _cv2()
    return LiveSource(uri, f"stream {uri}", _network_opener(cv2, uri, opts), opts,
                      why_not=lambda: f"cannot open stream {uri}: {_why_not_open(uri, network_timeout_s(opts))}")


class LiveSource(Source):
    """Newest-frame-only reader of an OpenCV capture, with reconnection."""

    live = True

    def __init__(
        self, uri: str, name: str, opener: Opener, opts: LiveOptions, why_not: Callable[[], str] | None = None
    ) -> None:
        super().__init__()
        self.uri, self.name, self._opener, self.opts = uri, name, opener, opts
        self._cv2 = _cv2()
        cap = opener()
        if not cap.isOpened():
            cap.release()
            if why_not is not None:
                raise DeviceError(why_not())
            raise DeviceError(f"cannot open {name} ({uri}): missing, busy, or not a capture device")
        fps = float(cap.get(self._cv2.CAP_PROP_FPS) or 0.0)
        self.rate = Fraction(fps).limit_denominator(1001) if 0 < fps < 1000 else None
        self.reconnects = 0
        self.outages: list[float] = []  # seconds without frames before each reconnect
        self._last_ok = time.monotonic()
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
                self._last_ok = time.monotonic()
                self._put(bgr)
        except Exception as exc:  # OpenCV errors end the source with the reason, never silently
            self.end_reason = f"{self.name} failed: {exc}"
        finally:
            self._cap.release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _put(self, bgr: np.ndarray) -> None:
        with self._cond:
            if self._slot is not None:
                self.dropped += 1  # the pipeline is behind: the older frame goes, the newest stays
            self._slot = (bgr, time.perf_counter())
            self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Reopen with backoff until ``reconnect_s`` has passed since the last frame; False (and the reason set)
        if it never comes back."""
        delay = 0.1
        self._cap.release()
        while not self._stop.is_set():
            left = self.opts.reconnect_s - (time.monotonic() - self._last_ok)
            if left <= 0:
                self.end_reason = f"{self.name} lost: no frames for {self.opts.reconnect_s:g} s (retried with backoff)"
                return False
            if self._stop.wait(min(delay, left)):
                break
            delay = min(delay * 2, 2.0)
            cap = self._opener()
            if cap.isOpened():
                ok, bgr = cap.read()
                if ok and bgr is not None:
                    self._cap = cap
                    self.reconnects += 1
                    gap = time.monotonic() - self._last_ok
                    self.outages.append(round(gap, 2))
                    self.warnings.append(f"{self.name} reconnected after {gap:.1f} s without frames")
                    self._last_ok = time.monotonic()
                    self._put(bgr)
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

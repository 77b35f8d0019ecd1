"""``-o rtsp://:PORT/NAME``: serve the upscaled frames as H.264 over RTSP from inside ``edgesr stream``,
with GStreamer's RTSP server through PyGObject (one server per port: outputs on one port are its mounts,
``rtsp_server``) (JetPack and Debian: ``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``; a venv needs ``--system-site-packages`` to see them).

One shared media pipeline for all clients: ``appsrc`` (fed by the writer thread) -> leaky queue ->
H.264 encoder -> RTP payloader. The encoder is ``nvv4l2h264enc`` (Jetson hardware) where it exists,
``x264enc`` otherwise (``EDGESR_RTSP_ENCODER`` forces one). Nothing here can slow the stream:

- no client connected: frames are not even converted;
- the encoder is behind: the leaky queue in front of it drops frames, and while ``appsrc`` itself
  reports enough data the writer does not even hand it one (those are counted in ``dropped``);
- a client does not read (a stalled TCP connection): the RTSP server drops that client's backlog
  (``drop-backlog``, the default) instead of blocking the shared pipeline; the other clients keep going.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from edgesr.errors import BadInputError, EdgeSRError, MissingDependencyError
from edgesr.runtime.outputs import NetAddress
from edgesr.runtime.rtsp_server import open_mount, release
from edgesr.runtime.serve_policy import ServePolicy
from edgesr.runtime.sinks import Sink
from edgesr.runtime.sources import Frame

KEYFRAME_EVERY = 30  # frames: a client that joins waits at most this long for a picture
X264_CRF = 20  # x264enc pass=qual quantizer=CRF: the quality the tests hold the stream to
NV_BITRATE = 8_000_000  # bit/s for nvv4l2h264enc
PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly"

ENCODERS: dict[str, str] = {
    "nvv4l2h264enc": (
        "videoconvert ! video/x-raw,format=I420 ! nvvidconv ! video/x-raw(memory:NVMM),format=I420 ! "
        f"nvv4l2h264enc insert-sps-pps=true iframeinterval={KEYFRAME_EVERY} idrinterval={KEYFRAME_EVERY} "
        f"bitrate={NV_BITRATE} ! h264parse"
    ),
    "x264enc": (
        "videoconvert ! video/x-raw,format=I420 ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast pass=qual quantizer={X264_CRF} key-int-max={KEYFRAME_EVERY}"
    ),
}


class GStreamerMissing(MissingDependencyError):
    def __init__(self, what: str) -> None:
        EdgeSRError.__init__(
            self,
            f"rtsp:// output needs {what}: apt install {PACKAGES} (JetPack has them) and, in a venv, "
            "create it with --system-site-packages",
        )
        self.package, self.extra = what, None


def import_gst() -> tuple[Any, Any, Any]:
    """(Gst, GstRtspServer, GLib), or a one-line error naming the packages."""
    try:
        import gi
    except ImportError:
        raise GStreamerMissing("PyGObject (python3-gi)") from None
    try:
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ValueError, ImportError):
        raise GStreamerMissing("GStreamer's RTSP server for Python (gir1.2-gst-rtsp-server-1.0)") from None
    Gst.init(None)
    return Gst, GstRtspServer, GLib


def pick_encoder(has_element: Callable[[str], bool], forced: str | None = None) -> str:
    """The H.264 encoder: ``forced`` (EDGESR_RTSP_ENCODER), else the Jetson hardware one, else x264."""
    if forced:
        if forced not in ENCODERS:
            raise BadInputError(f"EDGESR_RTSP_ENCODER={forced}: use one of {', '.join(ENCODERS)}")
        if not has_element(forced):
            raise GStreamerMissing(f"the GStreamer element {forced}")
        return forced
    for name in ENCODERS:
        if has_element(name):
            return name
    raise GStreamerMissing("an H.264 encoder (x264enc from gstreamer1.0-plugins-ugly, or nvv4l2h264enc)")


def launch_line(encoder: str) -> str:
    return (
        "( appsrc name=src is-live=true format=time do-timestamp=true block=false "
        "! queue name=leaky leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0 "
        f"! {ENCODERS[encoder]} ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


class RtspSink(Sink):
    def __init__(self, address: NetAddress, rate: Fraction | None, serve: ServePolicy | None = None) -> None:
        self.Gst, rtsp, self.GLib = import_gst()
        from gi.repository import GstRtsp

        policy = serve or ServePolicy()
        self.address = address
        self.encoder = pick_encoder(
            lambda n: self.Gst.ElementFactory.find(n) is not None, os.environ.get("EDGESR_RTSP_ENCODER")
        )
        self.rate = rate if rate and rate > 0 else Fraction(30)
        self.size: tuple[int, int] | None = None
        self.pushed = self.dropped = 0
        self._lock = threading.Lock()
        self._appsrc: Any = None
        self._caps_set = False
        self._full = False
        self.warnings: list[str] = []

        self.server = open_mount(address, policy, (rtsp, self.GLib, GstRtsp), launch_line(self.encoder),
                                 self._on_media)
        self.guard, self.port = self.server.guard, self.server.port
        host = "localhost" if address.host == "127.0.0.1" else address.host
        host = f"[{host}]" if ":" in host else host
        self.url = f"{'rtsps' if policy.tls else 'rtsp'}://{host}:{self.port}{address.path}"
        scope = "loopback only; --listen 0.0.0.0 serves the network" if address.loopback_only else (
            f"listening on {address.host}, reachable from the network")
        guard = "password required" if policy.credentials else "no password"
        self.description = f"{self.url} (H.264, {self.encoder})"
        self.notes = [f"RTSP: {self.url} (H.264 by {self.encoder}; {scope}; {guard}; "
                      f"at most {policy.max_clients} clients)"]

    # -- GLib thread: clients, media -----------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        return self.guard.clients

    @property
    def network(self) -> dict[str, int]:
        """For the report: peak clients, refusals, idle connections closed, failed logins."""
        return self.guard.to_dict()

    def _on_media(self, _factory: Any, media: Any) -> None:
        appsrc = media.get_element().get_by_name("src")
        appsrc.connect("enough-data", lambda *_: setattr(self, "_full", True))
        appsrc.connect("need-data", lambda *_: setattr(self, "_full", False))
        media.connect("unprepared", self._on_unprepared)
        with self._lock:
            self._appsrc, self._caps_set, self._full = appsrc, False, False
            self._set_caps_locked()

    def _on_unprepared(self, _media: Any) -> None:
        with self._lock:
            self._appsrc = None

    def _set_caps_locked(self) -> None:
        if self._appsrc is None or self.size is None or self._caps_set:
            return
        h, w = self.size
        caps = f"video/x-raw,format=RGB,width={w},height={h},framerate={self.rate.numerator}/{self.rate.denominator}"
        self._appsrc.set_property("caps", self.Gst.Caps.from_string(caps))
        self._appsrc.set_property("max-bytes", 3 * h * w * 3)
        self._caps_set = True

    # -- writer thread -----------------------------------------------------------------------------------------
    def write(self, frame: Frame, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        even = (h + h % 2, w + w % 2)  # the H.264 encoders want even sizes
        with self._lock:
            if self.size is None:
                self.size = even
                self._set_caps_locked()
            elif even != self.size:
                raise BadInputError(
                    f"frame {frame.index} is {w}x{h} but the RTSP stream is {self.size[1]}x{self.size[0]}: "
                    "an RTSP stream has one size"
                )
            appsrc = self._appsrc
            if appsrc is None:  # nobody watching: nothing to do
                return
            if self._full:
                self.dropped += 1
                return
        buf = self.Gst.Buffer.new_wrapped(rgb_bytes(image, even))
        if appsrc.emit("push-buffer", buf) == self.Gst.FlowReturn.OK:
            self.pushed += 1

    def close(self, complete: bool = True) -> None:
        with self._lock:
            appsrc, self._appsrc = self._appsrc, None
        if appsrc is not None:
            appsrc.emit("end-of-stream")
        release(self.server, self.address.path)


def rgb_bytes(image: np.ndarray, even_hw: tuple[int, int]) -> bytes:
    """RGB rows as GStreamer lays them out: padded to ``even_hw`` (edge pixels), rows to 4-byte strides."""
    h, w = image.shape[:2]
    if (h, w) != even_hw:
        image = np.pad(image, ((0, even_hw[0] - h), (0, even_hw[1] - w), (0, 0)), mode="edge")
        h, w = even_hw
    row = w * 3
    stride = (row + 3) // 4 * 4
    if stride == row:
        return np.ascontiguousarray(image).tobytes()
    out = np.zeros((h, stride), dtype=np.uint8)
    out[:, :row] = image.reshape(h, row)
    return out.tobytes()

"""Frame sources, named by URI as in jetson-utils.

=================================  =====================================================================
``0``, ``/dev/video0``, ``v4l2://0``  V4L2 camera through OpenCV (live)
``csi://0``                          Jetson CSI camera: GStreamer ``nvarguscamerasrc`` pipeline (live)
``rtsp://...``, ``http(s)://...``    network stream through OpenCV (live)
``... ! appsink``                    a raw GStreamer pipeline through OpenCV (live)
``clip.mp4`` (any video file)        decoded with PyAV: every frame, in order, with its timestamp
``frames/`` or ``photo.png``          a folder of images (recursive, sorted) or one image
=================================  =====================================================================

Files never drop a frame; an undecodable frame is skipped and counted. Live sources (``runtime.live``)
keep only the newest frame when the pipeline is behind and count the drops.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.errors import BadInputError, require
from edgesr.imageops import IMAGE_SUFFIXES, list_images, load_image


@dataclass
class Frame:
    """One input frame: uint8 HxWx3 RGB plus where it came from."""

    index: int  # 0-based, in delivery order
    image: np.ndarray
    time: float | None = None  # presentation time in seconds (file sources)
    name: str | None = None  # image file name (folder sources), used for PNG output names
    captured: float = 0.0  # time.perf_counter() when it was read, for end-to-end latency


class Source(abc.ABC):
    """Yields frames until the input ends; ``end_reason`` says why it ended."""

    uri: str
    live: bool = False
    rate: Fraction | None = None  # frames per second, when the source knows it
    audio_path: Path | None = None  # a file whose audio track a video sink may carry over
    dropped: int = 0
    skipped: int = 0
    end_reason: str = "end of input"

    def __init__(self) -> None:
        self._count = 0
        self.warnings: list[str] = []

    @abc.abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None at the end of the input."""

    def _frame(self, image: np.ndarray, time_s: float | None = None, name: str | None = None) -> Frame:
        f = Frame(self._count, image, time_s, name, time.perf_counter())
        self._count += 1
        return f

    def interrupt(self) -> None:  # noqa: B027 - live sources wake a blocked read()
        """Make a blocked ``read`` return None soon (called from another thread)."""

    def close(self) -> None:  # noqa: B027
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(Source):
    """A video file decoded with PyAV (in the base install: no OpenCV needed)."""

    MAX_CONSECUTIVE_ERRORS = 50

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        av = require("av", why="needed to decode video files")
        self.path = Path(path)
        self.uri = str(self.path)
        if not self.path.is_file():
            raise BadInputError(f"video not found: {self.path}")
        try:
            self.container = av.open(str(self.path))
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise BadInputError(f"{self.path} is not a video file PyAV can read ({_first_line(exc)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise BadInputError(f"{self.path} has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.rate = Fraction(rate) if rate else None
        self.audio_path = self.path if self.container.streams.audio else None
        self._frames = self._decode()

    def _decode(self) -> Iterator[Any]:
        av = require("av")
        errors = 0
        packets = self.container.demux(self.stream)
        decoded_frames = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                self._warn_if_short(decoded_frames)
                return
            except av.error.FFmpegError as exc:  # a broken container: skip on, but not forever
                errors += 1
                self.skipped += 1
                self.warnings.append(f"demux error in {self.path.name}: {_first_line(exc)}")
                if errors > self.MAX_CONSECUTIVE_ERRORS:
                    self.end_reason = f"too many consecutive read errors in {self.path.name}"
                    return
                continue
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as exc:
                errors += 1
                self.skipped += 1
                self.warnings.append(f"skipped an undecodable frame in {self.path.name}: {_first_line(exc)}")
                if errors > self.MAX_CONSECUTIVE_ERRORS:
                    self.end_reason = f"too many consecutive corrupt frames in {self.path.name}"
                    return
                continue
            for frame in decoded:
                errors = 0
                decoded_frames += 1
                yield frame

    def _warn_if_short(self, decoded: int) -> None:
        """A truncated file ends early: say so (its header announces more frames than it held)."""
        announced = self.stream.frames or 0
        if announced and decoded + self.skipped < announced:
            self.warnings.append(
                f"the input ended early: {self.path.name} held {decoded} of the {announced} frames its header "
                "announces (a truncated or partly written file?)"
            )

    def read(self) -> Frame | None:
        av = require("av")
        for vf in self._frames:
            try:
                image = vf.to_ndarray(format="rgb24")
            except (av.error.FFmpegError, ValueError) as exc:
                self.skipped += 1
                self.warnings.append(f"skipped a frame that cannot be converted to RGB: {_first_line(exc)}")
                continue
            return self._frame(image, vf.time)
        return None

    def close(self) -> None:
        self.container.close()


class ImageFolderSource(Source):
    """Images of a folder (recursive, sorted) or one image file; unreadable images are skipped and counted."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.root = Path(path)
        self.uri = str(self.root)
        self.files = list_images(self.root)
        self._next = 0

    def read(self) -> Frame | None:
        while self._next < len(self.files):
            f = self.files[self._next]
            self._next += 1
            try:
                image = load_image(f)
            except BadInputError as exc:
                self.skipped += 1
                self.warnings.append(str(exc))
                continue
            rel = f.relative_to(self.root) if self.root.is_dir() else Path(f.name)
            return self._frame(image, None, str(rel.with_suffix("")))
        return None


# -- URIs ---------------------------------------------------------------------------------------------------
NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://")
CAMERA_RE = re.compile(r"^(?:v4l2://)?(?:/dev/video)?(\d+)$")


@dataclass(frozen=True)
class LiveOptions:
    """Settings of live sources (cameras, network streams)."""

    reconnect_s: float = 10.0  # how long a lost camera/stream is retried (with backoff) before the run ends
    size: tuple[int, int] | None = None  # capture (H, W) asked of cameras; CSI default 720x1280
    fps: int | None = None  # capture rate asked of cameras; CSI default 30


def camera_uri(camera: str) -> str:
    """``--camera 0`` / ``--camera /dev/video2`` -> a source URI."""
    return f"/dev/video{camera}" if camera.isdigit() else camera


def open_source(uri: str, live: LiveOptions | None = None) -> Source:
    """Open the source named by ``uri`` (see the module docstring); errors are one line naming the source."""
    live = live or LiveOptions()
    uri = uri.strip()
    if not uri:
        raise BadInputError("empty source URI")
    m = CAMERA_RE.match(uri)
    pipeline = "!" in uri and not Path(uri).expanduser().exists()  # a real file may have '!' in its name
    if m or uri.startswith("csi://") or uri.startswith(NETWORK_SCHEMES) or pipeline:
        from edgesr.runtime.live import open_live

        return open_live(uri, live)
    path = Path(uri[len("file://") :] if uri.startswith("file://") else uri).expanduser()
    if not path.exists():
        raise BadInputError(f"source not found: {path}")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFolderSource(path)
    return VideoFileSource(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

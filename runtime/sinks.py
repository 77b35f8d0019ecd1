"""Where upscaled frames go: a video file, a folder of PNGs, a window, or nowhere.

``open_sink`` checks the destination BEFORE any frame is processed (an unwritable path is a one-line
error up front). A video is encoded to ``<name>.partial-<pid>-<random><suffix>`` (one per run) and renamed
to its real name when it is finalised; the pipeline finalises it on every exit path (end of input, Ctrl-C,
errors), so the file at the real name is always complete and playable. A failed write (a full disk) deletes
the partial file and leaves any earlier file at the real name as it was. Only a hard kill (SIGKILL, power
loss) leaves the ``.partial`` file instead.
"""

from __future__ import annotations

import abc
import os
import secrets
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from edgesr.artifact import refuse_special, sha256_file
from edgesr.errors import BadInputError, DeviceError, UsageError, require
from edgesr.imageops import save_image
from edgesr.paths import writable_place
from edgesr.runtime.audio import AudioPassthrough
from edgesr.runtime.sources import Frame
from edgesr.runtime.uris import VIDEO_SUFFIXES, OutputContext, classify_output

DEFAULT_RATE = Fraction(30)


class Sink(abc.ABC):
    description: str = ""

    @abc.abstractmethod
    def write(self, frame: Frame, image: np.ndarray) -> None:
        """Write ``image`` (uint8 HxWx3 RGB), the output for ``frame``."""

    def close(self, complete: bool = True) -> None:  # noqa: B027
        """Finalise. ``complete``: the input was fully processed (a video then keeps all of its audio)."""

    @property
    def wants_stop(self) -> str | None:
        """A reason to end the run that the sink knows of (a closed window), else None."""
        return None

    def pump(self) -> None:  # noqa: B027 - only GUI sinks need it
        """Called often from the MAIN thread while the stream runs (GUI toolkits want their main thread)."""


class NullSink(Sink):
    description = "none"

    def write(self, frame: Frame, image: np.ndarray) -> None:
        pass


class PngFolderSink(Sink):
    """``DIR/000000.png``... (or the source image's relative name for a folder source); atomic writes."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        writable_place(self.folder, "--output", create=True)
        self.description = f"PNGs in {self.folder}"

    def write(self, frame: Frame, image: np.ndarray) -> None:
        name = frame.name if frame.name is not None else f"{frame.index:06d}"
        save_image(self.folder / f"{name}.png", image)


class VideoSink(Sink):
    """H.264 (libx264, yuv420p) through PyAV at the source's frame rate, with the source's audio track."""

    def __init__(
        self,
        path: str | Path,
        rate: Fraction | None,
        audio_from: Path | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        fragmented: bool = False,
    ) -> None:
        self.av = require("av", why="needed to write video files")
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise UsageError(f"video output must end in {', '.join(VIDEO_SUFFIXES)}, got {self.path.name}")
        if self.path.is_dir():
            raise BadInputError(f"output {self.path} is a folder; give a file name such as {self.path / 'out.mp4'}")
        refuse_special(self.path, "video output")
        writable_place(self.path.parent, "--output", create=True)
        # One partial file per run (pid + random): two runs writing the same -o never share it, and the
        # rename at the end moves exactly the file this run wrote.
        self.partial = self.path.with_name(
            f"{self.path.stem}.partial-{os.getpid()}-{secrets.token_hex(3)}{self.path.suffix}"
        )
        self.rate = rate or DEFAULT_RATE
        # Fragmented MP4 (moof per keyframe): the index is written as it goes, so memory stays flat on
        # endless live runs and even a hard kill leaves a playable .partial file. Default for live sources.
        self.fragmented = fragmented and self.path.suffix.lower() in (".mp4", ".mov")
        options = {}
        if self.fragmented:  # flush_packets: each finished fragment goes to disk now, not when a 32 KB buffer fills
            options = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
        try:
            self.file = _WatchedFile(self.partial)
            fmt = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}[self.path.suffix.lower()]
            self.container = self.av.open(self.file, "w", format=fmt, options=options)
        except (self.av.error.FFmpegError, OSError) as exc:
            self.partial.unlink(missing_ok=True)
            raise BadInputError(f"cannot write {self.path}: {_reason(exc)}") from None
        self.stream = self.container.add_stream("libx264", rate=self.rate)
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": preset}
        if self.fragmented:  # a keyframe (so a fragment) every 2 s: a hard kill loses at most that
            self.stream.options = {**self.stream.options, "g": str(max(1, round(2 * float(self.rate))))}
        self.audio: AudioPassthrough | None = None
        self.warnings: list[str] = []
        if audio_from is not None:
            self.audio = AudioPassthrough.attach(audio_from, self.container, self.warnings)
        self.size: tuple[int, int] | None = None
        self.failed: str | None = None  # the first write error: the partial file is then deleted, never renamed
        self.sha256: str | None = None  # of the finished file, set by close()
        self.frames = 0
        self._last_pts = -1
        self._t0: float | None = None
        self._last_time = 0.0
        extra = (", audio kept" if self.audio else "") + (", fragmented" if self.fragmented else "")
        self.description = f"{self.path} (H.264, {float(self.rate):g} fps{extra})"

    def write(self, frame: Frame, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self.size is None:
            self.size = (h, w)
            self.stream.height, self.stream.width = h + h % 2, w + w % 2  # yuv420p needs even sizes
        elif (h, w) != self.size:
            raise BadInputError(
                f"frame {frame.index} is {w}x{h} but the video is {self.size[1]}x{self.size[0]}: "
                "write mixed-size inputs to a folder of PNGs (--output DIR)"
            )
        if h % 2 or w % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        vf = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        pts = self._pts(frame)
        vf.pts, vf.time_base = pts, 1 / self.rate
        if self.failed is not None:
            raise BadInputError(self.failed)
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
            self.frames += 1
            self._last_time = float(pts / self.rate)
            if self.audio is not None:
                self.audio.mux_until(self._last_time)
            if self.file.error is not None:  # FFmpeg may swallow it; the file object does not
                raise self.file.error
        except Exception as exc:  # the first failed write (a full disk...) ends the run
            self.failed = f"cannot write {self.path}: {_reason(exc)}"
            raise BadInputError(self.failed) from None

    def _pts(self, frame: Frame) -> int:
        """Source timestamps (files: keeps sync with the audio) or frame count (live), strictly increasing."""
        if frame.time is None:
            pts = self._last_pts + 1
        else:
            pts = int(round(frame.time * self.rate))
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        return pts

    def close(self, complete: bool = True) -> None:
        """Finalise and rename to the real name; on any write failure delete this run's partial file and
        raise (an earlier file at the real name stays as it was)."""
        try:
            try:
                if self.frames and self.failed is None:
                    for packet in self.stream.encode(None):
                        self.container.mux(packet)
                    if self.audio is not None:
                        self.audio.mux_until(None if complete else self._last_time)
            finally:
                if self.audio is not None:
                    self.audio.close()
                try:
                    self.container.close()
                finally:
                    self.file.close()
            if self.file.error is not None:
                self.failed = self.failed or f"cannot write {self.path}: {_reason(self.file.error)}"
            if self.failed is not None:
                raise BadInputError(self.failed)
            if self.frames:
                self._verify()
                self.sha256 = sha256_file(self.partial)  # the report names exactly this file
        except BaseException as exc:
            self.partial.unlink(missing_ok=True)
            if isinstance(exc, (BadInputError, KeyboardInterrupt)):
                raise
            raise BadInputError(self.failed or f"cannot write {self.path}: {_reason(exc)}") from None
        if self.frames:
            try:
                refuse_special(self.path, "video output")
            except BadInputError:
                self.partial.unlink(missing_ok=True)
                raise
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)

    def _verify(self) -> None:
        """The finished file opens and (where its index says) holds every frame written: never report an
        undecodable file as the output."""
        try:
            with self.av.open(str(self.partial)) as c:
                n = c.streams.video[0].frames
        except Exception as exc:
            why = _reason(exc)
            raise BadInputError(f"cannot write {self.path}: the finished video does not open ({why})") from None
        if n and n != self.frames:
            raise BadInputError(f"cannot write {self.path}: the finished video holds {n} of {self.frames} frames")


class _WatchedFile:
    """The muxer's output file, unbuffered (fragments reach the disk when FFmpeg flushes them), which
    remembers the first write error: FFmpeg can swallow it and carry on encoding into a broken file."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.f = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by VideoSink.close
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            while view:
                n = self.f.write(view)
                view = view[n or 0:]
        except OSError as exc:
            self.error = self.error or exc
            raise
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.f.close()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


class DisplaySink(Sink):
    """An OpenCV window (where a display exists). Closing it or pressing q/Esc ends the run.

    ``write`` (writer thread) only keeps the newest image; ``pump`` (main thread, where every highgui
    backend is happy) shows it: the window never slows the pipeline, it skips frames instead.
    """

    def __init__(self, title: str = "edgesr") -> None:
        self.cv2 = require("cv2", extra="video", why="needed for --output display")
        if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DeviceError("no display here ($DISPLAY is not set): use --output out.mp4, --output DIR or none")
        self.title = title
        try:
            # resizable, no Qt toolbar/status bar (GUI_NORMAL): the window is the video
            self.cv2.namedWindow(title, self.cv2.WINDOW_NORMAL | self.cv2.WINDOW_GUI_NORMAL)
        except self.cv2.error as exc:
            raise DeviceError(
                f"this OpenCV cannot open windows ({str(exc).strip().splitlines()[-1]}); install an OpenCV with GUI "
                "support (not opencv-python-headless) or use --output out.mp4"
            ) from None
        self._closed: str | None = None
        self._latest: np.ndarray | None = None
        self._sized = False
        self._lock = threading.Lock()
        self.description = "display window"

    def write(self, frame: Frame, image: np.ndarray) -> None:
        with self._lock:
            self._latest = image

    def pump(self) -> None:
        with self._lock:
            image, self._latest = self._latest, None
        if image is not None:
            self.cv2.imshow(self.title, self.cv2.cvtColor(image, self.cv2.COLOR_RGB2BGR))
            if not self._sized:  # WINDOW_NORMAL opens at a toolkit default size: show pixels 1:1 (resizable after)
                self.cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
                self._sized = True
        key = self.cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            self._closed = "display closed (q pressed)"
        elif self.cv2.getWindowProperty(self.title, self.cv2.WND_PROP_VISIBLE) < 1:
            self._closed = "display window closed"

    @property
    def wants_stop(self) -> str | None:
        return self._closed

    def close(self, complete: bool = True) -> None:
        self.cv2.destroyWindow(self.title)


def check_output(output: str) -> None:
    """Fail fast (before opening engines and cameras) if ``output`` cannot be written."""
    ref = classify_output(output)
    if ref.path is not None:
        writable_place(ref.path if ref.kind.writes == "folder" else ref.path.parent, "--output")


def open_sink(
    output: str, rate: Fraction | None = None, audio_from: Path | None = None, fragmented: bool = False
) -> Sink:
    """The sink of one ``--output`` (its kind from ``runtime.uris``)."""
    return classify_output(output).open(OutputContext(rate, audio_from, fragmented))

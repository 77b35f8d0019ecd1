"""The URI grammar of ``edgesr stream`` (jetson-utils' spelling): ONE table of source kinds and ONE table
of output kinds. A new source or output kind is one row here (plus the class that opens it).

Every kind declares the URI schemes it answers to (``rtsp`` for ``rtsp://...``), or, for a URI without a
scheme, a test that claims it (``/dev/video0``, ``clip.mp4``, ``none``); whether it is live; and how it
opens. ``classify_source`` / ``classify_output`` are the only places a URI is looked at: the CLI checks,
``run_stream``, the report's default path and the error for an unknown scheme all use them. Openers import
their module when called, so reading this table costs nothing (no OpenCV, PyAV or GStreamer).

``file://PATH`` is a path (``file://out.mp4`` is ``./out.mp4``, ``file:///data/out.mp4`` is absolute).
A scheme this table does not know (``rtmp://`` as an output, a typo such as ``http:/:8080``) is refused in
one line that lists the known ones: it never becomes a folder named after the URI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesr.errors import UsageError
from edgesr.imageops import IMAGE_SUFFIXES

if TYPE_CHECKING:  # the openers import these when called
    from edgesr.runtime.sinks import Sink
    from edgesr.runtime.sources import LiveOptions, Source

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")  # video outputs (H.264 through PyAV)
PATH_SCHEME = "file"  # file://PATH: a path, for every kind that is a path
CAMERA_RE = re.compile(r"^(?:/dev/video)?(\d+)$")  # 0, /dev/video0 (and v4l2:// + either)
_URI_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(/*)(.*)$", re.DOTALL)  # two letters at least: C:/ is a path


# -- sources ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceKind:
    name: str
    schemes: tuple[str, ...]  # URI schemes it answers to; PATH_SCHEME for the kinds that are paths
    live: bool  # a device sets the pace: newest frame only, drops counted; files never drop a frame
    example: str
    opens: Callable[[SourceRef, LiveOptions], Source]
    claims: Callable[[str], bool] | None = None  # claims a URI given without a scheme
    parse: Callable[[str, str], str] = lambda uri, rest: uri  # (URI, text after scheme://) -> what it opens


@dataclass(frozen=True)
class SourceRef:
    """A classified source: its kind, the URI as given, and what the kind opens (device, URL, path...)."""

    kind: SourceKind
    uri: str
    target: str

    @property
    def live(self) -> bool:
        return self.kind.live

    @property
    def path(self) -> Path | None:
        """The file or folder read (None for devices and network streams)."""
        return Path(self.target).expanduser() if PATH_SCHEME in self.kind.schemes else None

    def open(self, opts: LiveOptions) -> Source:
        return self.kind.opens(self, opts)


def _camera(ref: SourceRef, opts: LiveOptions) -> Source:
    from edgesr.runtime.live import open_camera

    return open_camera(ref.uri, int(ref.target), opts)


def _csi(ref: SourceRef, opts: LiveOptions) -> Source:
    from edgesr.runtime.live import open_csi

    return open_csi(ref.uri, ref.target, opts)


def _network(ref: SourceRef, opts: LiveOptions) -> Source:
    from edgesr.runtime.live import open_network

    return open_network(ref.uri, opts)


def _pipeline(ref: SourceRef, opts: LiveOptions) -> Source:
    from edgesr.runtime.live import open_pipeline

    return open_pipeline(ref.uri, opts)


def _images(ref: SourceRef, opts: LiveOptions) -> Source:
    from edgesr.runtime.sources import open_images

    return open_images(Path(ref.target).expanduser())


def _video(ref: SourceRef, opts: LiveOptions) -> Source:
    from edgesr.runtime.sources import open_video

    return open_video(Path(ref.target).expanduser())


def _camera_number(uri: str, rest: str) -> str:
    m = CAMERA_RE.match(rest)
    if m is None:
        raise UsageError(f"--source {uri}: expected v4l2:///dev/videoN or v4l2://N")
    return m.group(1)


def _sensor_number(uri: str, rest: str) -> str:
    if not rest.isdigit():
        raise UsageError(f"--source {uri}: expected csi://N with a sensor number")
    return rest


def _path(uri: str, rest: str) -> str:
    if not rest:
        raise UsageError(f"{uri}: give a path after file://")
    return rest


def _folder_path(uri: str, rest: str) -> str:
    p = Path(_path(uri, rest)).expanduser()
    if p.suffix and not p.is_dir():  # out.avi is a typo for a video, not a folder named out.avi
        raise UsageError(
            f"--output {uri}: give a video file ({', '.join(VIDEO_SUFFIXES)}), a folder for PNGs, display or none"
        )
    return rest


def _is_images(target: str) -> bool:
    p = Path(target).expanduser()
    return p.suffix.lower() in IMAGE_SUFFIXES or p.is_dir()


SOURCE_KINDS: tuple[SourceKind, ...] = (
    SourceKind("camera", ("v4l2",), True, "/dev/video0, 0, v4l2:///dev/video0", _camera,
               claims=lambda t: CAMERA_RE.match(t) is not None, parse=_camera_number),
    SourceKind("csi", ("csi",), True, "csi://0", _csi, parse=_sensor_number),
    SourceKind("network", ("rtsp", "rtsps", "rtmp", "http", "https", "udp"), True,
               "rtsp://host:8554/cam, http://..., udp://@:5000", _network),
    # a real file may have '!' in its name: it is a pipeline only where no such file exists
    SourceKind("gstreamer", (), True, "'... ! appsink'", _pipeline,
               claims=lambda t: "!" in t and not Path(t).expanduser().exists()),
    SourceKind("images", (PATH_SCHEME,), False, "frames/, photo.png", _images, claims=_is_images, parse=_path),
    SourceKind("video", (PATH_SCHEME,), False, "clip.mp4, file://clip.mp4", _video, claims=lambda t: True,
               parse=_path),
)


# -- outputs ----------------------------------------------------------------------------------------------------
@dataclass
class OutputContext:
    """What an output needs to open, besides its URI."""

    rate: Fraction | None = None
    audio_from: Path | None = None
    fragmented: bool = False
    listen: str | None = None  # bind address of served outputs given without a host
    live: Any = None  # outputs.LiveContext: what the live view shows besides frames
    say: Callable[[str], None] = print


@dataclass(frozen=True)
class OutputKind:
    name: str
    schemes: tuple[str, ...]
    live: bool  # shown or served as it happens (a window, RTSP, the live view) rather than written
    example: str
    opens: Callable[[OutputRef, OutputContext], Sink]
    claims: Callable[[str], bool] | None = None
    parse: Callable[[str, str], str] = lambda uri, rest: uri
    writes: str | None = None  # "file" or "folder": the place it writes (checked before the run, report beside)
    served: bool = False  # binds HOST:PORT (--listen applies; rtsp:// outputs of one port are mounts of one server)
    shared: bool = False  # several streams may go to one of it (none; the live view shows them in a grid)


@dataclass(frozen=True)
class OutputRef:
    kind: OutputKind
    uri: str
    target: str

    @property
    def path(self) -> Path | None:
        return Path(self.target).expanduser() if self.kind.writes else None

    def default_report(self) -> Path | None:
        """Where the JSON report goes when --report is not given: beside the file, inside the folder."""
        p = self.path
        if p is None:
            return None
        return p.with_name(p.stem + ".report.json") if self.kind.writes == "file" else p / "report.json"

    def open(self, ctx: OutputContext) -> Sink:
        return self.kind.opens(self, ctx)


def _none(ref: OutputRef, ctx: OutputContext) -> Sink:
    from edgesr.runtime.sinks import NullSink

    return NullSink()


def _display(ref: OutputRef, ctx: OutputContext) -> Sink:
    from edgesr.runtime.sinks import DisplaySink

    return DisplaySink()


def _rtsp(ref: OutputRef, ctx: OutputContext) -> Sink:
    from edgesr.runtime.outputs import parse_address
    from edgesr.runtime.sink_rtsp import RtspSink

    return RtspSink(parse_address(ref.uri, ctx.listen), ctx.rate, ctx.live.serve if ctx.live is not None else None)


def _liveview(ref: OutputRef, ctx: OutputContext) -> Sink:
    from edgesr.runtime.liveview import LiveViewSink
    from edgesr.runtime.outputs import parse_address

    return LiveViewSink(parse_address(ref.uri, ctx.listen), ctx.live)


def _video_out(ref: OutputRef, ctx: OutputContext) -> Sink:
    from edgesr.runtime.sinks import VideoSink

    return VideoSink(Path(ref.target).expanduser(), ctx.rate, ctx.audio_from, fragmented=ctx.fragmented)


def _folder(ref: OutputRef, ctx: OutputContext) -> Sink:
    from edgesr.runtime.sinks import PngFolderSink

    return PngFolderSink(Path(ref.target).expanduser())


def _display_number(uri: str, rest: str) -> str:
    if rest.lower() not in ("", "0", "display"):
        raise UsageError(f"--output {uri}: only display://0 (a window on this $DISPLAY) is supported")
    return "0"


OUTPUT_KINDS: tuple[OutputKind, ...] = (
    OutputKind("none", (), False, "none", _none, claims=lambda t: t.lower() == "none", shared=True),
    OutputKind("display", ("display",), True, "display, display://0", _display,
               claims=lambda t: t.lower() == "display", parse=_display_number),
    OutputKind("rtsp", ("rtsp",), True, "rtsp://:8554/sr", _rtsp, served=True),
    OutputKind("liveview", ("http",), True, "http://:8080", _liveview, served=True, shared=True),
    OutputKind("video", (PATH_SCHEME,), False, "out.mp4 (.mov, .mkv), file://out.mp4", _video_out,
               claims=lambda t: Path(t).suffix.lower() in VIDEO_SUFFIXES, parse=_path, writes="file"),
    OutputKind("folder", (PATH_SCHEME,), False, "frames/ (PNGs)", _folder, claims=lambda t: True, parse=_folder_path,
               writes="folder"),
)


# -- classify ---------------------------------------------------------------------------------------------------
def _split(uri: str, schemes: set[str], what: str) -> tuple[str | None, str]:
    """(scheme, rest) of a URI with a known scheme; (None, uri) for one without. A scheme this direction does
    not know, or a known one without its ``//``, is refused here."""
    m = _URI_RE.match(uri)
    if m is None:
        return None, uri
    scheme, slashes, rest = m.group(1).lower(), m.group(2), m.group(3)
    if scheme not in schemes:
        if not slashes:  # "a:b.mp4" is a file name
            return None, uri
        known = ", ".join(f"{s}://" for s in sorted(schemes))
        raise UsageError(f"{what} {uri}: unknown scheme {scheme}://; known: {known}")
    if len(slashes) < 2:
        raise UsageError(f"{what} {uri}: write {scheme}://{rest} (two slashes after {scheme}:)")
    return scheme, "/" * (len(slashes) - 2) + rest


def classify_source(uri: str) -> SourceRef:
    """The kind of a source URI (no I/O beyond telling a folder from a file)."""
    kind, text, target = _classify(uri.strip(), SOURCE_KINDS, "--source")
    return SourceRef(kind, text, target)


def classify_output(uri: str) -> OutputRef:
    """The kind of an ``--output``."""
    kind, text, target = _classify(uri.strip(), OUTPUT_KINDS, "--output")
    return OutputRef(kind, text, target)


def _classify(text: str, kinds: tuple[Any, ...], what: str) -> tuple[Any, str, str]:
    """(kind, URI, target): a URI with a scheme goes to the kinds of that scheme (the first that claims what
    follows, when several share it, as file:// does); one without to the first kind that claims it."""
    if not text:
        raise UsageError(f"empty {what}")
    scheme, rest = _split(text, {s for k in kinds for s in k.schemes}, what)
    if scheme is None:
        kind = next(k for k in kinds if k.claims is not None and k.claims(text))
        return kind, text, kind.parse(text, text)
    mine = [k for k in kinds if scheme in k.schemes]
    kind = mine[0] if len(mine) == 1 else next(k for k in mine if k.claims is not None and k.claims(rest))
    return kind, text, kind.parse(text, rest)


def known_sources() -> str:
    """One line per kind, for help texts and docs."""
    return "; ".join(f"{k.name}: {k.example}" for k in SOURCE_KINDS)


def known_outputs() -> str:
    return "; ".join(f"{k.name}: {k.example}" for k in OUTPUT_KINDS)

"""Several ``--output`` at once: files, folders, a window, and the network sinks (``rtsp://`` served by
GStreamer's RTSP server, ``http://`` a live view page), all fed the same frames by one ``FanOutSink``.

``-o out.mp4 -o rtsp://:8554/sr -o http://:8080`` records, serves RTSP and shows the live view at once.
A network URL with no host (``rtsp://:8554/sr``) binds 127.0.0.1 unless ``--listen 0.0.0.0`` is given;
a URL with a host binds that host. Port 0 picks a free port (the line printed at start names it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgesr.errors import UsageError
from edgesr.runtime.sinks import Sink, check_output, open_sink, output_kind
from edgesr.runtime.sources import Frame

NETWORK_SCHEMES = ("rtsp", "http")
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class NetAddress:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def loopback_only(self) -> bool:
        return self.host in (LOOPBACK, "localhost", "::1")


def network_scheme(output: str) -> str | None:
    scheme = output.split("://", 1)[0].lower() if "://" in output else ""
    return scheme if scheme in NETWORK_SCHEMES else None


def parse_address(output: str, listen: str | None) -> NetAddress:
    """``rtsp://[HOST]:PORT/NAME`` or ``http://[HOST]:PORT[/]``; the bind host is HOST, else ``listen``,
    else 127.0.0.1. A HOST that contradicts ``--listen`` is refused."""
    parts = urlsplit(output)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        example = "rtsp://:8554/sr" if scheme == "rtsp" else "http://:8080"
        raise UsageError(f"--output {output}: give a port, e.g. {example}")
    host = parts.hostname or ""
    if host and listen is not None and host != listen:
        raise UsageError(f"--output {output} binds {host} but --listen says {listen}: give one of them")
    host = host or listen or LOOPBACK
    path = parts.path or "/"
    if scheme == "rtsp" and path.strip("/") == "":
        raise UsageError(f"--output {output}: give a mount name, e.g. rtsp://:{port}/sr")
    if scheme == "http" and path != "/":
        raise UsageError(f"--output {output}: the live view is served at the root, e.g. http://:{port}")
    if parts.query or parts.fragment or parts.username:
        raise UsageError(f"--output {output}: no user, query or fragment in a served URL")
    return NetAddress(scheme, host, port, path)


def check_outputs(outputs: list[str], listen: str | None = None) -> None:
    """Fail fast, before engines and cameras open: writable paths, well-formed URLs, no duplicates."""
    if not outputs:
        raise UsageError("no output given")
    seen: set[str] = set()
    for output in outputs:
        if network_scheme(output):
            addr = parse_address(output, listen)
            key = f"{addr.scheme}:{addr.port}" if addr.port else output
        else:
            kind = output_kind(output)
            if kind == "none" and len(outputs) > 1:
                raise UsageError("--output none cannot be combined with other outputs")
            check_output(output)
            key = kind if kind == "display" else str(Path(output).expanduser().resolve())
        if key in seen:
            raise UsageError(f"--output {output} is given twice")
        seen.add(key)
    ports = [parse_address(o, listen).port for o in outputs if network_scheme(o)]
    taken = [p for p in ports if p and ports.count(p) > 1]
    if taken:
        raise UsageError(f"port {taken[0]} is used by two outputs")
    if any(network_scheme(o) == "rtsp" for o in outputs):
        from edgesr.runtime.sink_rtsp import import_gst

        import_gst()  # no GStreamer: one line now, not after the engine has loaded
    if listen is not None and not any(network_scheme(o) for o in outputs):
        raise UsageError("--listen applies to rtsp:// or http:// outputs, and none is given")


def first_file_output(outputs: list[str]) -> str | None:
    """Where the report goes by default: beside the first file/folder output."""
    for output in outputs:
        if not network_scheme(output) and output_kind(output) in ("video", "folder"):
            return output
    return None


@dataclass
class LiveContext:
    """What the live view shows besides frames (passed through to the http sink)."""

    stats: Any  # StreamStats
    check: Any  # CheckConfig
    title: str = ""
    checks_note: str = ""
    serve: Any = None  # ServePolicy (serve_policy): auth, TLS, client limits of the network outputs


def open_outputs(
    outputs: list[str],
    rate: Fraction | None,
    audio_from: Path | None,
    fragmented: bool,
    listen: str | None,
    context: LiveContext,
    say: Callable[[str], None],
) -> Sink:
    sinks: list[Sink] = []
    try:
        for output in outputs:
            scheme = network_scheme(output)
            if scheme == "rtsp":
                from edgesr.runtime.sink_rtsp import RtspSink

                sinks.append(RtspSink(parse_address(output, listen), rate, context.serve))
            elif scheme == "http":
                from edgesr.runtime.liveview import LiveViewSink

                sinks.append(LiveViewSink(parse_address(output, listen), context))
            else:
                sinks.append(open_sink(output, rate, audio_from, fragmented=fragmented))
            for note in getattr(sinks[-1], "notes", []):
                say(note)
    except BaseException:
        for s in sinks:
            s.close(complete=False)
        raise
    return sinks[0] if len(sinks) == 1 else FanOutSink(sinks)


class FanOutSink(Sink):
    """Every frame to every sink, in order given. Network sinks never block (they drop for slow clients);
    a file sink is as fast as it always was."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks
        self.description = " + ".join(s.description for s in sinks)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        for s in self.sinks:
            s.write(frame, image)

    def pump(self) -> None:
        for s in self.sinks:
            s.pump()

    @property
    def wants_stop(self) -> str | None:
        for s in self.sinks:
            if s.wants_stop:
                return s.wants_stop
        return None

    @property
    def warnings(self) -> list[str]:
        return [w for s in self.sinks for w in getattr(s, "warnings", [])]

    def close(self, complete: bool = True) -> None:
        first: BaseException | None = None
        for s in self.sinks:  # every sink is closed even if one fails; the first failure is raised
            try:
                s.close(complete)
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first

"""Several ``--output`` at once: files, folders, a window, and the network sinks (``rtsp://`` served by
GStreamer's RTSP server, ``http://`` a live view page), all fed the same frames by one ``FanOutSink``.

``-o out.mp4 -o rtsp://:8554/sr -o http://:8080`` records, serves RTSP and shows the live view at once.
A network URL with no host (``rtsp://:8554/sr``) binds 127.0.0.1 unless ``--listen 0.0.0.0`` is given;
a URL with a host binds that host. Port 0 picks a free port (the line printed at start names it). Several
``rtsp://`` outputs on one port are mounts (distinct paths) of one RTSP server (``rtsp_server``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgesr.errors import UsageError
from edgesr.runtime.sinks import Sink, check_output
from edgesr.runtime.sources import Frame
from edgesr.runtime.uris import OutputContext, OutputRef, classify_output

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


def check_outputs(outputs: list[str], listen: str | None = None) -> list[OutputRef]:
    """Fail fast, before engines and cameras open: known kinds, writable paths, well-formed URLs, no
    duplicates. Returns the classified outputs, in order."""
    if not outputs:
        raise UsageError("no output given")
    refs = [classify_output(o) for o in outputs]
    seen: set[str] = set()
    ports: dict[int, set[tuple[str, str]]] = {}  # port -> {(scheme, host)}: the rtsp:// outputs of one host share it
    for ref in refs:
        if ref.kind.served:
            addr = parse_address(ref.uri, listen)
            if addr.scheme == "rtsp":  # a mount of the port's one RTSP server: its path is the key
                key = f"rtsp:{addr.host}:{addr.port}{addr.path.rstrip('/')}" if addr.port else ref.uri
            else:
                key = f"{addr.scheme}:{addr.port}" if addr.port else ref.uri
            if addr.port:
                ports.setdefault(addr.port, set()).add((addr.scheme, addr.host))
        elif ref.path is not None:
            check_output(ref.uri)
            key = str(ref.path.resolve())
        else:
            if ref.kind.name == "none" and len(outputs) > 1:
                raise UsageError("--output none cannot be combined with other outputs")
            key = ref.kind.name
        if key in seen:
            raise UsageError(f"--output {ref.uri} is given twice")
        seen.add(key)
    taken = [p for p, users in ports.items() if len(users) > 1]
    if taken:
        raise UsageError(f"port {taken[0]} is used by two outputs")
    if any(ref.kind.name == "rtsp" for ref in refs):
        from edgesr.runtime.sink_rtsp import import_gst

        import_gst()  # no GStreamer: one line now, not after the engine has loaded
    if listen is not None and not any(ref.kind.served for ref in refs):
        raise UsageError("--listen applies to rtsp:// or http:// outputs, and none is given")
    return refs


def default_report_path(refs: list[OutputRef]) -> Path | None:
    """Where the report goes by default: beside the first file output, or inside the first folder output."""
    return next((r.default_report() for r in refs if r.path is not None), None)


@dataclass
class LiveContext:
    """What the live view shows besides frames (passed through to the http sink)."""

    stats: Any  # StreamStats
    check: Any  # CheckConfig
    title: str = ""
    checks_note: str = ""
    serve: Any = None  # ServePolicy (serve_policy): auth, TLS, client limits of the network outputs


def open_outputs(refs: list[OutputRef], ctx: OutputContext) -> Sink:
    sinks: list[Sink] = []
    try:
        for ref in refs:
            sinks.append(ref.open(ctx))
            for note in getattr(sinks[-1], "notes", []):
                ctx.say(note)
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

"""One GStreamer RTSP server per ``host:port`` of a run: every ``-o rtsp://`` output that names the same host
and port is a mount (its own media factory, its own path) of ONE server, so ``-o rtsp://:8554/cam{i}`` serves
``/cam0``, ``/cam1``, ... on port 8554. The serving policy (auth, TLS, client limits, ``rtsp_guard``) is the
server's and applies to every mount; ``max_clients`` is per mount, the connections of all mounts counted together.

The sinks (``sink_rtsp.RtspSink``) mount themselves with ``open_mount`` and give it back with ``release``: the first
sink of a ``host:port`` starts the server and its GLib thread, the last one stops it. Paths are distinct
(``outputs.check_outputs`` refuses a path given twice before anything opens; ``mount`` refuses it again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from edgesr.errors import DeviceError, UsageError
from edgesr.runtime.outputs import NetAddress
from edgesr.runtime.rtsp_guard import RtspGuard
from edgesr.runtime.serve_policy import ServePolicy

_lock = threading.Lock()
_servers: dict[tuple[str, int], RtspServer] = {}


class RtspServer:
    """A started ``GstRtspServer.RTSPServer`` on ``address.host:address.port`` with its GLib main loop."""

    def __init__(self, address: NetAddress, policy: ServePolicy, rtsp: Any, glib: Any, gst_rtsp: Any) -> None:
        self.address, self.policy, self.rtsp, self.GLib = address, policy, rtsp, glib
        self.guard = RtspGuard(policy, rtsp, glib, gst_rtsp)
        self.paths: set[str] = set()
        self.server = rtsp.RTSPServer()
        self.server.set_address(address.host)
        self.server.set_service(str(address.port))
        self._ctx = glib.MainContext.new()
        self.guard.configure(self.server, address.host, self._ctx)
        self._loop = glib.MainLoop.new(self._ctx, False)
        try:
            self._source = self.server.create_source(None)
        except glib.Error as exc:
            raise DeviceError(f"cannot serve RTSP on {address.host}:{address.port}: {exc.message}") from None
        self._source.attach(self._ctx)
        self.port = int(self.server.get_bound_port())
        self._thread = threading.Thread(target=self._run_loop, name="edgesr-rtsp", daemon=True)
        self._thread.start()

    def _run_loop(self) -> None:
        self._ctx.push_thread_default()
        try:
            self._loop.run()
        finally:
            self._ctx.pop_thread_default()

    def mount(self, path: str, launch: str, on_media: Callable[[Any, Any], None]) -> None:
        """Serve ``launch`` (one shared media for every client of the path) at ``path``."""
        if path in self.paths:
            raise UsageError(f"--output rtsp://:{self.address.port}{path} is given twice")
        factory = self.rtsp.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        factory.connect("media-configure", on_media)
        self.guard.configure_mount(factory, self.address.host)
        self.server.get_mount_points().add_factory(path, factory)
        self.paths.add(path)

    def unmount(self, path: str) -> None:
        self.server.get_mount_points().remove_factory(path)
        self.paths.discard(path)

    def stop(self) -> None:
        self._source.destroy()
        self._loop.quit()
        self._thread.join(timeout=5.0)


def open_mount(
    address: NetAddress, policy: ServePolicy, gst: tuple[Any, Any, Any], launch: str,
    on_media: Callable[[Any, Any], None],
) -> RtspServer:
    """Serve ``launch`` at ``address.path`` on the server of ``address.host:address.port`` (started by the
    first mount). ``gst``: (GstRtspServer, GLib, GstRtsp)."""
    key = (address.host, address.port)
    with _lock:
        server = _servers.get(key)
        fresh = server is None
        if server is None:
            server = RtspServer(address, policy, *gst)
        elif server.policy != policy:
            raise UsageError(f"rtsp://{address.host}:{address.port}: its mounts must share one serving policy")
        try:
            server.mount(address.path, launch, on_media)
        except BaseException:
            if fresh:
                server.stop()
            raise
        _servers[key] = server
        return server


def release(server: RtspServer, path: str) -> None:
    """``path`` is no longer served; the last mount stops the server."""
    with _lock:
        server.unmount(path)
        if server.paths:
            return
        _servers.pop((server.address.host, server.address.port), None)
    server.stop()

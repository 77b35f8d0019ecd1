"""``-o rtsp://`` on a network: GStreamer's RTSP server with the serving policy (``serve_policy``) applied.

- **Auth:** ``RTSPAuth`` with Digest (the password itself never crosses the network) for every user of
  ``--auth``/``--auth-file``/``$EDGESR_AUTH``; the mount is open to the role those users carry only. A request
  whose credentials are wrong (a 401 after the connection's first challenge) is counted; a client address with
  ``LOCKOUT_AFTER`` failures has its connections closed at once for ``LOCKOUT_S`` (the main loop never sleeps:
  every other client keeps its stream).
- **TLS:** ``--tls-cert``/``--tls-key`` make it RTSPS (``rtsps://``, ``RTSPAuth.set_tls_certificate``).
- **Clients:** at most ``max_clients`` connections per mount (a server with several mounts, ``rtsp_server``:
  ``max_clients`` times the mounts, counted together); the next one is closed at once. A
  connection that has no session ``IDLE_S`` after it opened (half-open, idle) is closed; sessions that
  stop their keep-alives expire (``SESSION_TIMEOUT_S``) and their connections close.
- **Media sockets:** the RTP/RTCP UDP ports bind the address RTSP listens on (an ``RTSPAddressPool`` with
  that one unicast address), not every interface.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

from edgesr.errors import BadInputError
from edgesr.runtime.serve_policy import ServePolicy

ROLE = "viewer"
REALM = "edgesr"
IDLE_S = 10  # a connection with no session this long after it opened is closed
SESSION_TIMEOUT_S = 30  # a session without keep-alives expires (then its connection closes)
CLEANUP_EVERY_S = 2
LOCKOUT_AFTER = 5  # failed logins from one address ...
LOCKOUT_S = 30.0  # ... and its requests are refused this long
RTP_PORTS = (30000, 60000)  # the range media ports are taken from when an address pool is used
REQUEST_BODY_LIMIT = 4096  # bytes of an RTSP request body (edgesr takes none)


class RtspGuard:
    """Counters and checks of one RTSP server; every method runs in the server's GLib thread."""

    def __init__(self, policy: ServePolicy, rtsp: Any, glib: Any, gst_rtsp: Any) -> None:
        self.policy, self.rtsp, self.GLib, self.GstRtsp = policy, rtsp, glib, gst_rtsp
        self._lock = threading.Lock()
        self.clients = self.peak_clients = self.refused_busy = self.timed_out = self.auth_failures = 0
        self._fails: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._pool: Any = None
        self.mounts = 0  # paths served (configure_mount)

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return {"peak_clients": self.peak_clients, "refused_busy": self.refused_busy,
                    "timed_out": self.timed_out, "auth_failures": self.auth_failures}

    # -- set-up ------------------------------------------------------------------------------------------------
    def _set_limits(self) -> None:
        self._server.get_session_pool().set_max_sessions(self.policy.max_clients * 2 * max(1, self.mounts))

    def configure_mount(self, factory: Any, host: str) -> None:
        """A mount's share of the policy: its clients, its media ports from the server's one address pool, its
        role. Called after ``configure``."""
        with self._lock:
            self.mounts += 1
        self._set_limits()
        if host not in ("0.0.0.0", "::"):
            if self._pool is None:
                self._pool = self.rtsp.RTSPAddressPool()
                self._pool.add_range(host, host, RTP_PORTS[0], RTP_PORTS[1], 0)
            factory.set_address_pool(self._pool)
        if self.policy.credentials is not None or self.policy.tls:
            factory.add_role_from_structure(self._permissions())

    def configure(self, server: Any, host: str, ctx: Any) -> None:
        """The server's share: request limits, sessions, auth and TLS, the client signals (every mount)."""
        self._ctx = ctx
        if "content-length-limit" in [p.name for p in server.list_properties()]:
            server.set_property("content-length-limit", REQUEST_BODY_LIMIT)
        self._server = server
        self._set_limits()
        creds = self.policy.credentials
        if creds is not None or self.policy.tls:
            auth = self.rtsp.RTSPAuth()
            if creds is not None:
                token = self.rtsp.RTSPToken()
                token.set_string(self.rtsp.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
                auth.set_realm(REALM)
                for user, password in creds.users:  # Digest only: the password never crosses the network
                    auth.add_digest(user, password, token)
                auth.set_supported_methods(self.GstRtsp.RTSPAuthMethod.DIGEST)
            else:  # TLS alone: anyone may watch, as without TLS
                token = self.rtsp.RTSPToken()
                token.set_string(self.rtsp.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
                auth.set_default_token(token)
            if self.policy.tls:
                auth.set_tls_certificate(self._certificate())
            server.set_auth(auth)
        # PyGObject cannot hand the signals' GstRTSPContext to Python (a GLib critical per signal, shown as a
        # warning); edgesr never uses it
        warnings.filterwarnings("ignore", message=".*G_VALUE_HOLDS_OBJECT.*")
        server.connect("client-connected", self._on_client)
        cleanup = self.GLib.timeout_source_new_seconds(CLEANUP_EVERY_S)
        pool = server.get_session_pool()
        cleanup.set_callback(lambda *_: (pool.cleanup(), True)[1])
        cleanup.attach(ctx)

    def _permissions(self) -> Any:
        from gi.repository import Gst

        return Gst.Structure.new_from_string(
            f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )

    def _certificate(self) -> Any:
        from gi.repository import Gio

        try:
            return Gio.TlsCertificate.new_from_files(str(self.policy.tls_cert), str(self.policy.tls_key))
        except self.GLib.Error as exc:
            raise BadInputError(f"--tls-cert {self.policy.tls_cert}: cannot load for RTSPS ({exc.message})") from None

    # -- clients -----------------------------------------------------------------------------------------------
    def _on_client(self, _server: Any, client: Any) -> None:
        ip = _client_ip(client)
        with self._lock:
            busy = self.clients >= self.policy.max_clients * max(1, self.mounts)
            locked = self._locked_until.get(ip, 0.0) > time.monotonic()
            if busy:
                self.refused_busy += 1
            else:
                self.clients += 1
                self.peak_clients = max(self.peak_clients, self.clients)
        open_ = [True]  # closing a client twice frees its connection twice (a crash): only while open
        client.connect("closed", lambda _c: open_.__setitem__(0, False))
        if busy or locked:  # closed at once (answering 503 from a pre-request signal crashes PyGObject here)
            self._close(client, open_, idle=False)
            return
        client.set_property("post-session-timeout", 5)
        client.connect("closed", self._on_closed)
        client.connect("new-session", lambda _c, session: session.set_timeout(SESSION_TIMEOUT_S))
        challenges = [0]  # 401s sent on this connection
        client.connect("send-message", lambda _c, _ctx, msg: self._on_send(ip, challenges, msg))
        self._later(IDLE_S, lambda: self._close(client, open_, idle=True))

    def _on_closed(self, _client: Any) -> None:
        with self._lock:
            self.clients -= 1

    def _close(self, client: Any, open_: list[bool], idle: bool) -> None:
        """Close ``client`` if it is still open (and, for ``idle``, has no session by now)."""
        if not open_[0] or (idle and client.session_filter(None)):
            return
        if idle:
            with self._lock:
                self.timed_out += 1
        open_[0] = False
        # shut the socket down and let the server see an ordinary disconnect: gst_rtsp_client_close() from a
        # timeout makes the server free the client twice at shutdown (a crash)
        try:
            client.get_connection().get_read_socket().shutdown(True, True)
        except Exception:  # already gone
            pass

    def _later(self, seconds: int, fn: Any) -> None:
        source = self.GLib.timeout_source_new_seconds(seconds)
        source.set_callback(lambda *_: (fn(), False)[1])
        source.attach(self._ctx)

    def _on_send(self, ip: str, seen: list[int], msg: Any) -> None:
        """A 401 after the first one on a connection is a failed login: the first is the challenge every
        client gets, the next ones answer credentials that were wrong."""
        if self.policy.credentials is None or msg.get_type() != self.GstRtsp.RTSPMsgType.RESPONSE:
            return
        if msg.parse_response()[1] != self.GstRtsp.RTSPStatusCode.UNAUTHORIZED:
            return
        seen[0] += 1
        if seen[0] == 1:
            return
        with self._lock:
            self.auth_failures += 1
            n = self._fails[ip] = self._fails.get(ip, 0) + 1
            if len(self._fails) > 4096:
                self._fails.clear()
            if n >= LOCKOUT_AFTER:
                self._locked_until[ip] = time.monotonic() + LOCKOUT_S
                self._fails.pop(ip, None)


def _client_ip(client: Any) -> str:
    try:
        return str(client.get_connection().get_ip())
    except Exception:  # a connection already gone
        return "?"

"""The live view's HTTP server, hardened for a device on a network (standard library only).

- **Clients:** at most ``ServePolicy.max_clients`` connections at once; the next one gets ``503`` at once
  and is closed (no thread, nothing read).
- **Requests:** the request line and headers together at most ``MAX_HEAD_BYTES``, all of them within
  ``HEAD_TIMEOUT_S`` of the connection (or of the previous response): a client that trickles bytes
  (slowloris) or sends nothing is closed. A request body is never read: a request that declares one gets
  its answer and the connection closes, so a body is never taken for a second request.
- **Who:** ``Host`` must name this server (an IP address, ``localhost``, this machine's name or an
  ``--allow-host``: a browser led here by DNS rebinding sends the attacker's name, and gets ``403``);
  with credentials, every path needs HTTP Basic (``401`` otherwise; a wrong password is answered
  later and later, and counted).
- **TLS** (``--tls-cert``/``--tls-key``): the handshake runs in the connection's own thread, under the
  same deadline.
- ``Server: edgesr`` (no Python version).
"""

from __future__ import annotations

import io
import ipaddress
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edgesr.runtime.auth import Failures
from edgesr.runtime.serve_policy import ServePolicy

MAX_HEAD_BYTES = 8192
HEAD_TIMEOUT_S = 10.0
REALM = "edgesr live view"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nServer: edgesr\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n"
    b"Retry-After: 5\r\nConnection: close\r\n\r\ntoo many viewers: try again shortly\n"
)


def local_names() -> set[str]:
    names = {"localhost"}
    try:
        host = socket.gethostname().lower()
        names |= {host, f"{host}.local", socket.getfqdn().lower()}
    except OSError:
        pass
    return names


class NetCounters:
    """What the report's ``network`` field says about one server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients = 0
        self.peak_clients = 0
        self.refused_busy = 0
        self.refused_host = 0
        self.timed_out = 0
        self.failures = Failures()

    def to_dict(self) -> dict[str, int]:
        return {"peak_clients": self.peak_clients, "refused_busy": self.refused_busy,
                "refused_host": self.refused_host, "timed_out": self.timed_out,
                "auth_failures": self.failures.count}


class HardenedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], policy: ServePolicy,
                 tls: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.policy, self.tls = policy, tls
        self.counters = NetCounters()
        self.names = local_names() | {h.lower() for h in policy.allow_hosts}
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        c = self.counters
        with c.lock:
            busy = c.clients >= self.policy.max_clients
            if busy:
                c.refused_busy += 1
            else:
                c.clients += 1
                c.peak_clients = max(c.peak_clients, c.clients)
        if busy:
            try:
                request.setblocking(False)
                request.send(BUSY)  # fits any socket buffer: never blocks the accepting thread
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.counters.lock:
                self.counters.clients -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A viewer that goes away mid-response (closed tab, stalled reader) is normal: no traceback."""
        if not isinstance(sys.exc_info()[1], (OSError, ssl.SSLError, ValueError)):
            super().handle_error(request, client_address)


class GuardedHandler(BaseHTTPRequestHandler):
    """Reads each request head itself (bounded in size and time), then lets ``BaseHTTPRequestHandler``
    parse it; ``allowed()`` checks Host and credentials before any route runs."""

    server: HardenedServer
    server_version = "edgesr"
    protocol_version = "HTTP/1.1"
    _pending = b""

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the terminal shows stats
        pass

    def setup(self) -> None:
        self.deadline = time.monotonic() + HEAD_TIMEOUT_S
        if self.server.tls is not None:
            self.request.settimeout(HEAD_TIMEOUT_S)
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)  # handshake, bounded
        super().setup()
        self.rfile.close()  # heads are read from the socket by _read_head, never through a buffered file
        self.rfile = io.BytesIO()

    def handle_one_request(self) -> None:
        head = self._read_head()
        if head is None:
            self.close_connection = True
            return
        self.rfile = io.BytesIO(head)
        super().handle_one_request()
        if getattr(self, "headers", None) is not None and not self.close_connection:
            length = self.headers.get("Content-Length", "0").strip()
            if length not in ("", "0") or self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # a body is never read, so never parsed as the next request
        self.deadline = time.monotonic() + HEAD_TIMEOUT_S

    def _read_head(self) -> bytes | None:
        buf = self._pending
        sock = self.connection
        while b"\r\n\r\n" not in buf:
            if len(buf) > MAX_HEAD_BYTES:
                self._raw_error(431, "Request Header Fields Too Large")
                return None
            left = self.deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(4096)
            except TimeoutError:  # slowloris, or a connection opened and left idle
                with self.server.counters.lock:
                    self.server.counters.timed_out += 1
                return None
            except (OSError, ValueError):
                return None
            if not chunk:
                return None
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        if len(head) > MAX_HEAD_BYTES:
            self._raw_error(431, "Request Header Fields Too Large")
            return None
        self._pending = rest
        sock.settimeout(WRITE_TIMEOUT_S)
        return head + b"\r\n\r\n"

    def _raw_error(self, code: int, reason: str) -> None:
        body = f"{reason}\n".encode()
        try:
            self.connection.settimeout(2.0)
            self.connection.sendall(
                f"HTTP/1.1 {code} {reason}\r\nServer: edgesr\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
        except OSError:
            pass

    def allowed(self) -> bool:
        """Host names this server, and the credentials (if any are set) are right; else the answer is sent."""
        if not self._host_ok(self.headers.get("Host")):
            with self.server.counters.lock:
                self.server.counters.refused_host += 1
            self.plain(403, b"this server does not answer to that Host name\n")
            return False
        creds = self.server.policy.credentials
        if creds is None:
            return True
        header = self.headers.get("Authorization")
        client = self.client_address[0]
        if creds.check_basic(header):
            self.server.counters.failures.succeed(client)
            return True
        if header is not None:  # a wrong guess (a first request without credentials is no guess)
            time.sleep(self.server.counters.failures.fail(client))
        self.close_connection = True
        self.plain(401, b"authentication required\n", {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})
        return False

    def _host_ok(self, host: str | None) -> bool:
        if host is None:  # HTTP/1.0 clients may omit it; a browser always sends it
            return True
        name = host.strip().lower()
        if name.startswith("["):
            name = name[1:].split("]", 1)[0]
        elif name.count(":") == 1:
            name = name.split(":", 1)[0]
        try:
            ipaddress.ip_address(name)
            return True  # an address is never the attacker's name: no rebinding through it
        except ValueError:
            return name.rstrip(".") in self.server.names

    def plain(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, "text/plain; charset=utf-8", body, headers)

    def send_body(self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A complete response (no body for HEAD), never cached."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


WRITE_TIMEOUT_S = 10.0  # a viewer that takes no bytes for this long is disconnected

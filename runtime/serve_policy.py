"""How the network outputs (``-o rtsp://``, ``-o http://``) may be reached: credentials, TLS, client limits,
and the rule that serving beyond this machine without authentication needs ``--insecure-no-auth``.

``check_serving`` runs before anything opens (engine, camera): a policy that cannot be served is one line.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from edgesr.errors import BadInputError, UsageError
from edgesr.runtime.auth import Credentials

MAX_CLIENTS = 32  # per output: the next one is refused (HTTP 503, RTSP connection closed)
MAX_CLIENTS_LIMIT = 1024


@dataclass(frozen=True)
class ServePolicy:
    credentials: Credentials | None = None
    insecure_no_auth: bool = False  # serve beyond loopback with no authentication, said explicitly
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_clients: int = MAX_CLIENTS
    allow_hosts: tuple[str, ...] = field(default=())  # extra names the live view answers to (Host header)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(listen: str | None) -> None:
    if listen is None:
        return
    if not listen.strip():
        raise UsageError("--listen is empty: give an address, e.g. 127.0.0.1, 0.0.0.0, ::1 or ::")
    try:
        ipaddress.ip_address(listen.strip("[]"))
    except ValueError:
        try:
            socket.getaddrinfo(listen, None)
        except (OSError, UnicodeError):
            raise UsageError(f"--listen {listen}: not an address of this machine") from None


def tls_context(policy: ServePolicy) -> ssl.SSLContext | None:
    """The server-side TLS context of ``--tls-cert``/``--tls-key``, or a one-line error."""
    if policy.tls_cert is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(policy.tls_cert), str(policy.tls_key) if policy.tls_key else None)
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise BadInputError(f"--tls-cert {policy.tls_cert.name}: cannot load the certificate and key ({why})") from None
    return ctx


def check_serving(outputs: list[str], listen: str | None, policy: ServePolicy) -> None:
    """Refuses a network output exposed beyond loopback without auth, conflicting flags, and TLS files that
    do not load."""
    from edgesr.runtime.outputs import parse_address
    from edgesr.runtime.uris import classify_output

    check_listen(listen)
    hosts = [(o, parse_address(o, listen).host) for o in outputs if classify_output(o).kind.served]
    if policy.credentials is not None and policy.insecure_no_auth:
        raise UsageError("--insecure-no-auth contradicts --auth/--auth-file/$EDGESR_AUTH: give one of them")
    if (policy.tls_cert is None) != (policy.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if not 1 <= policy.max_clients <= MAX_CLIENTS_LIMIT:
        raise UsageError(f"--max-clients must be in [1, {MAX_CLIENTS_LIMIT}], got {policy.max_clients}")
    if not hosts:
        given = [f for f, v in (("--auth", policy.credentials), ("--insecure-no-auth", policy.insecure_no_auth),
                                ("--tls-cert", policy.tls_cert), ("--allow-host", policy.allow_hosts)) if v]
        if given:
            raise UsageError(f"{given[0]} applies to rtsp:// or http:// outputs, and none is given")
        return
    for output, host in hosts:
        if not is_loopback(host) and policy.credentials is None and not policy.insecure_no_auth:
            raise UsageError(
                f"--output {output} would serve {host} to the network without authentication: give --auth USER:PASS, "
                "--auth-file FILE or $EDGESR_AUTH (or --insecure-no-auth to serve it open)"
            )
    tls_context(policy)

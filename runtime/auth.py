"""Who may watch a served stream: the credentials of ``--auth USER:PASSWORD``, ``--auth-file FILE`` (lines of
``user:password``; ``#`` comments and blank lines skipped) or the ``EDGESR_AUTH`` environment variable (one
``user:password``), so that a password need not be on a command line that ``ps`` shows.

``Credentials.check`` compares in constant time (``hmac.compare_digest`` over every entry, so neither the
user name nor the password leaks through timing). ``Failures`` counts refused attempts (the report's
``network.auth_failures``) and says how long to hold the next answer to a client that keeps guessing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from edgesr.errors import BadInputError, UsageError
from edgesr.safe_read import read_text_capped

ENV = "EDGESR_AUTH"
MAX_FILE_BYTES = 64 * 1024  # an auth file is a few lines; more is not one
MAX_FIELD = 256  # characters of a user name or password
FAIL_DELAY_S = 0.25  # first refused attempt of a client; doubles per failure, up to MAX_FAIL_DELAY_S
MAX_FAIL_DELAY_S = 4.0


@dataclass(frozen=True)
class Credentials:
    users: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:  # never print a password, even in a traceback's locals
        return f"Credentials(users={[u for u, _ in self.users]})"

    def check(self, user: str, password: str) -> bool:
        ok = False
        for u, p in self.users:  # every entry compared: the time does not say which one matched
            ok |= hmac.compare_digest(u.encode(), user.encode()) & hmac.compare_digest(p.encode(), password.encode())
        return ok

    def check_basic(self, header: str | None) -> bool:
        """An HTTP ``Authorization: Basic ...`` header holding a known user:password."""
        if not header or not header[:6].lower() == "basic ":
            return False
        try:
            text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        user, sep, password = text.partition(":")
        return bool(sep) and self.check(user, password)


def parse_pair(text: str, where: str) -> tuple[str, str]:
    user, sep, password = text.strip("\r\n").partition(":")
    if not sep or not user or not password:
        raise UsageError(f"{where}: expected USER:PASSWORD with both non-empty")
    if len(user) > MAX_FIELD or len(password) > MAX_FIELD:
        raise UsageError(f"{where}: user name and password must be at most {MAX_FIELD} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in user + password):
        raise UsageError(f"{where}: no control characters in a user name or password")
    return user, password


def read_auth_file(path: Path) -> list[tuple[str, str]]:
    try:
        text = read_text_capped(path, "--auth-file", MAX_FILE_BYTES)
    except BadInputError as exc:
        raise BadInputError(str(exc).replace("cannot read --auth-file", "--auth-file", 1)) from None
    pairs = [
        parse_pair(line, f"--auth-file {path} line {n}")
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not pairs:
        raise BadInputError(f"--auth-file {path}: no user:password line")
    return pairs


def load_credentials(auth: str | None, auth_file: Path | None, env: dict[str, str] | None = None) -> Credentials | None:
    """The credentials from exactly one of ``--auth``, ``--auth-file``, ``$EDGESR_AUTH``; None if none is set."""
    env_value = (os.environ if env is None else env).get(ENV)
    given = [n for n, v in (("--auth", auth), ("--auth-file", auth_file)) if v is not None]
    if len(given) > 1:
        raise UsageError("give one of --auth and --auth-file")
    if auth is not None:
        return Credentials((parse_pair(auth, "--auth"),))
    if auth_file is not None:
        return Credentials(tuple(read_auth_file(auth_file)))
    if env_value is not None:
        return Credentials((parse_pair(env_value, f"${ENV}"),))
    return None


class Failures:
    """Refused attempts: counted, and each client that keeps guessing waits longer for its next answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self._per_client: dict[str, int] = {}

    def fail(self, client: str) -> float:
        """Count one refused attempt of ``client``; returns the seconds to hold the answer."""
        with self._lock:
            self.count += 1
            n = self._per_client.get(client, 0) + 1
            if len(self._per_client) > 4096:  # bounded: a flood of addresses cannot grow memory
                self._per_client.clear()
            self._per_client[client] = n
        return min(MAX_FAIL_DELAY_S, FAIL_DELAY_S * 2 ** (n - 1))

    def succeed(self, client: str) -> None:
        with self._lock:
            self._per_client.pop(client, None)

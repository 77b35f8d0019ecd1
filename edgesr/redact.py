"""Secrets and machine paths out of everything edgesr shows: one function for each, used by the terminal
lines, the CLI's error line, the stream report, the live view and its ``/stats.json``.

- ``redact``: a password in a URI's user info, ``rtsp://user:pass@host`` -> ``rtsp://user:***@host``.
  A URI without a password is left as it is (a user name alone is not a secret).
- ``public``: what a server may show of a text: ``redact`` plus every absolute path reduced to its file
  name (``/home/me/clips/in.mp4`` -> ``in.mp4``), so nothing served names the machine's folders.
- ``redact_tree`` / ``public_tree``: the same over the strings of a JSON-like value (a report, figures).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MASK = "***"
# scheme://user:password@ : the password runs to the last '@' before the host part ends ('/', space, quote)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*:/{1,3}[^\s:/@'\"]*):(?P<pw>[^\s/'\"]*)@")
# an absolute path not part of a URL (no ':', '/', word char or '.' right before its first '/')
_FILE_URI = re.compile(r"\bfile://(?=/)")
_ABS_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"(),;]+/)+(?P<name>[^\s/'\"(),;]*)")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text) if "@" in text else text


def public(text: str) -> str:
    """``redact(text)`` with every absolute path shortened to its last component."""
    text = _FILE_URI.sub("", redact(text))
    return _ABS_PATH.sub(lambda m: m["name"] or "/", text)


def _tree(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _tree(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tree(v, fn) for v in value]
    return value


def redact_tree(value: Any) -> Any:
    """Every string in ``value`` (dicts, lists) through ``redact``; other values as they are."""
    return _tree(value, redact)


def public_tree(value: Any) -> Any:
    """Every string in ``value`` through ``public``."""
    return _tree(value, public)

"""Reading a small file edgesr parses (an engine sidecar, a JSON report, an auth file) without trusting it:
a regular file only (a symlink to ``/dev/zero`` or a FIFO is refused, never read or waited on), at most
``limit`` bytes, UTF-8, and JSON nesting that cannot exhaust the stack. Every failure is one line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from edgesr.errors import BadInputError

SMALL_FILE = 1 << 20  # 1 MiB: a sidecar or report is a few kB


def read_text_capped(path: str | os.PathLike[str], what: str, limit: int = SMALL_FILE) -> str:
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        why = "a symbolic link loop" if exc.errno == 40 else (exc.strerror or str(exc))
        raise BadInputError(f"cannot read {what} {p}: {why}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(f"cannot read {what} {p}: not a regular file (a device, FIFO or folder)")
    if st.st_size > limit:
        raise BadInputError(f"cannot read {what} {p}: {st.st_size} bytes, more than {limit} for such a file")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise BadInputError(f"cannot read {what} {p}: more than {limit} bytes for such a file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"cannot read {what} {p}: not UTF-8 text") from None


def read_json_capped(path: str | os.PathLike[str], what: str, limit: int = SMALL_FILE) -> Any:
    text = read_text_capped(path, what, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"cannot read {what} {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise BadInputError(f"cannot read {what} {path}: JSON nested too deeply") from None

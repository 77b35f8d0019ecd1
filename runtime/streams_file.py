"""``--streams streams.toml``: the sources of a multi-stream run, their outputs and per-stream options, in one
file. Every error names the file and the line.

    batch_timeout_ms = 20              # optional: --batch-timeout
    output = ["http://:8080"]          # optional: outputs of every stream (templates {i}/{name}, or shared)

    [[stream]]
    source = "rtsp://10.0.0.5:8554/door"
    name = "door"                      # optional: default from the source
    output = "door.mp4"                # optional: this stream's own outputs (a string or a list)
    reconnect = 30                     # optional per stream: --reconnect, --check-every, --max-frames
    check_every = 60
    max_frames = 9000
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesr.errors import BadInputError, EdgeSRError
from edgesr.runtime.uris import classify_output, classify_source

TOP_KEYS = ("batch_timeout_ms", "output", "stream")
STREAM_KEYS = ("source", "name", "output", "reconnect", "check_every", "max_frames")


@dataclass(frozen=True)
class StreamSpec:
    source: str
    name: str | None = None
    outputs: tuple[str, ...] = ()
    reconnect: float | None = None
    check_every: int | None = None
    max_frames: int | None = None


@dataclass(frozen=True)
class StreamsFile:
    path: Path
    streams: tuple[StreamSpec, ...]
    outputs: tuple[str, ...] = ()
    batch_timeout_ms: float | None = None


def read_streams(path: Path) -> StreamsFile:
    if sys.version_info >= (3, 11):
        import tomllib  # novermin (3.11+; tomli below on 3.10)
    else:  # pragma: no cover - Python 3.10 (Jetson)
        import tomli as tomllib
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise BadInputError(f"--streams {path}: no such file") from None
    except OSError as exc:
        raise BadInputError(f"--streams {path}: cannot read it ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f":{m.group(1)}" if m else ""
        raise BadInputError(f"{path}{where}: not valid TOML ({str(exc).split(' (at line')[0]})") from None
    lines = text.splitlines()

    def fail(line: int, msg: str) -> EdgeSRError:
        return BadInputError(f"{path}:{line}: {msg}")

    for key in data:
        if key not in TOP_KEYS:
            raise fail(_line(lines, None, key), f"unknown key {key!r} (known: {', '.join(TOP_KEYS)})")
    raw = data.get("stream")
    if not isinstance(raw, list) or not raw:
        raise fail(1, "no [[stream]] table: give one per source, each with source = \"...\"")
    specs = []
    for k, table in enumerate(raw):
        head = _line(lines, k, None)
        for key in table:
            if key not in STREAM_KEYS:
                raise fail(_line(lines, k, key), f"unknown key {key!r} in [[stream]] (known: {', '.join(STREAM_KEYS)})")
        if "source" not in table:
            raise fail(head, "this [[stream]] has no source = \"...\"")

        def get(key: str, types: tuple[type, ...], what: str, k: int = k, table: dict[str, Any] = table) -> Any:
            value = table.get(key)
            if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
                raise fail(_line(lines, k, key), f"{key} must be {what}, got {value!r}")
            return value

        source = get("source", (str,), "a string (a URI)")
        outputs = _outputs(get("output", (str, list), "a string or a list of strings"), _line(lines, k, "output"), fail)
        for key, value in (("source", source), *(("output", o) for o in outputs)):
            try:
                classify_source(value) if key == "source" else classify_output(value)
            except EdgeSRError as exc:
                raise fail(_line(lines, k, key), str(exc)) from None
        reconnect = get("reconnect", (int, float), "a number of seconds")
        every = get("check_every", (int,), "an integer (0: no checks)")
        max_frames = get("max_frames", (int,), "an integer")
        for key, value, lo in (("reconnect", reconnect, 0), ("check_every", every, 0), ("max_frames", max_frames, 1)):
            if value is not None and value < lo:
                raise fail(_line(lines, k, key), f"{key} must be >= {lo}, got {value}")
        name = get("name", (str,), "a string")
        specs.append(StreamSpec(source, name, tuple(outputs), reconnect, every, max_frames))
    timeout = data.get("batch_timeout_ms")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0):
        raise fail(_line(lines, None, "batch_timeout_ms"), f"batch_timeout_ms must be a number >= 0, got {timeout!r}")
    shared = _outputs(data.get("output"), _line(lines, None, "output"), fail)
    return StreamsFile(path, tuple(specs), tuple(shared), timeout)


def _outputs(value: Any, line: int, fail: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(o, str) for o in items):
        raise fail(line, f"output must be a string or a list of strings, got {value!r}")
    return list(items)


def _line(lines: list[str], stream: int | None, key: str | None) -> int:
    """1-based line of ``key`` at the top (stream None) or in the ``stream``-th [[stream]] table (key None: its
    header)."""
    header = [n for n, text in enumerate(lines) if re.match(r"^\s*\[\[\s*stream\s*\]\]", text)]
    if stream is None:
        start, end = 0, header[0] if header else len(lines)
    else:
        start = header[stream] if stream < len(header) else 0
        end = header[stream + 1] if stream + 1 < len(header) else len(lines)
        if key is None:
            return start + 1
    for n in range(start, end):
        if re.match(rf"^\s*{re.escape(key or '')}\s*=", lines[n]):
            return n + 1
    return start + 1

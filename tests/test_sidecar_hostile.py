"""An engine sidecar as an attacker or a broken disk leaves it: a symlink to ``/dev/zero``, a FIFO, a symlink
loop, deeply nested JSON, non-UTF-8 bytes, an oversize file. Each is one line (``IncompatibleArtifactError``)
and is read at most 1 MiB; none hangs, runs out of memory or raises a traceback."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edgesr.artifact import read_sidecar, sidecar_path
from edgesr.errors import IncompatibleArtifactError


def _zero(p: Path) -> None:
    p.symlink_to("/dev/zero")


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _loop(p: Path) -> None:
    p.symlink_to(p.name)  # points at itself


def _nested(p: Path) -> None:
    p.write_text("[" * 100_000 + "]" * 100_000)


def _latin1(p: Path) -> None:
    p.write_bytes(b'{"format": 1, "note": "caf\xe9"}')


def _huge(p: Path) -> None:
    with p.open("wb") as f:
        f.truncate(64 << 20)  # sparse 64 MiB


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "symlink to /dev/zero": (_zero, "not a regular file"),
    "fifo": (_fifo, "not a regular file"),
    "symlink loop": (_loop, "symbolic link loop"),
    "deeply nested": (_nested, "nested too deeply"),
    "not utf-8": (_latin1, "not UTF-8"),
    "64 MiB": (_huge, "more than"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_sidecar_is_one_line(tmp_path: Path, case: str) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    make, message = CASES[case]
    make(sidecar_path(engine))
    result: list[BaseException] = []

    def read() -> None:
        try:
            read_sidecar(engine)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what was raised
            result.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "reading the sidecar hung"
    assert len(result) == 1 and isinstance(result[0], IncompatibleArtifactError), result
    assert message in str(result[0]) and "\n" not in str(result[0])


def test_an_edited_precision_label_is_refused(tmp_path: Path) -> None:
    """A sidecar whose precision was edited (fp16 -> fp32) no longer matches the model's own metadata."""
    import json

    import tinymodel

    from edgesr.runtime.runner import open_runner

    fp32 = tinymodel.tiny_onnx(tmp_path / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(tmp_path / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(tmp_path / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")
    open_runner(engine).close()  # as built: fine
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    data["precision"] = "fp32"
    side.write_text(json.dumps(data))
    with pytest.raises(IncompatibleArtifactError, match="sidecar says fp32 but the model itself is fp16"):
        open_runner(engine)

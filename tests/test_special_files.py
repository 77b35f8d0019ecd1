"""Atomic writers never replace a device node, FIFO or socket (as root, ``--report /dev/null`` would replace the
machine's ``/dev/null``): ``write_json``/``atomic_write`` and every CLI option that writes through them
refuse one in one line, and the special file is left as it was. Tried on a copy of ``/dev/null``
(``mknod``, root only) and on a FIFO."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import tinymodel
from export_helpers import cli, one_line_error

from edgesr.artifact import atomic_write, write_json
from edgesr.errors import BadInputError


def _fifo(d: Path) -> Path:
    p = d / "fifo"
    os.mkfifo(p)
    return p


def _fake_null(d: Path) -> Path:
    p = d / "fakenull"
    try:
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    return p


MAKERS: list[Callable[[Path], Path]] = [_fifo, _fake_null]


@pytest.mark.parametrize("make", MAKERS, ids=["fifo", "device"])
def test_writers_refuse_special_files(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    target = make(tmp_path)
    kind = os.stat(target).st_mode
    with pytest.raises(BadInputError, match="device, FIFO or socket"):
        write_json(target, {"a": 1})
    with pytest.raises(BadInputError, match="device, FIFO or socket"):
        with atomic_write(target, "engine") as tmp:
            tmp.write_bytes(b"x")
    assert os.stat(target).st_mode == kind  # still the special file
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temp left behind
    link = tmp_path / "link.json"  # a symlink to one is refused the same way
    link.symlink_to(target)
    with pytest.raises(BadInputError, match="device, FIFO or socket"):
        write_json(link, {"a": 1})
    assert link.is_symlink() and os.stat(target).st_mode == kind


@pytest.mark.parametrize("make", MAKERS, ids=["fifo", "device"])
def test_cli_outputs_refuse_special_files(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          make: Callable[[Path], Path]) -> None:
    target = make(tmp_path)
    kind = os.stat(target).st_mode
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(3, 24, 32), audio=False)
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video),
                       "-o", str(tmp_path / "out.mp4"), "--report", str(target))
    assert code == 2 and "not a regular file" in one_line_error(err)
    code, _, err = cli(capsys, "build-engine", str(model), "-o", str(target), "--backend", "onnxruntime")
    assert code != 0 and "not a regular file" in one_line_error(err)
    assert os.stat(target).st_mode == kind and not (tmp_path / "out.mp4").exists()


def test_a_bang_in_a_video_path_is_a_file_not_a_pipeline(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    folder = tmp_path / "take 1!final"
    folder.mkdir()
    video = tinymodel.write_video(folder / "clip!.mp4", tinymodel.test_frames(4, 24, 32), audio=False)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--video", str(video), "--realtime",
                       "-o", str(out), "-q", "--check-every", "0")
    assert code == 0, err
    assert len(list(out.glob("*.png"))) == 4

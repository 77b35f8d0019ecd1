"""Issue 9, class 3: a full disk (a small tmpfs, really filled) during train, build-engine, stream, export and
eval --json: one line naming what could not be written, no temp file left, the last good artifact intact,
and the same command works again once there is space."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import SMALL_PROFILE, cli, one_line_error, tiny_checkpoint
from train_helpers import TINY, image_folder

from edgesr.spec import edge_xs

TEMP_MARKERS = (".tmp", ".partial", ".edgesr-probe")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command here: the full-disk tests need a small tmpfs")
    if r.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs ({r.stderr.strip()[:100]}): full-disk tests skipped")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt: Path, leave: int) -> Path:
    """Fill the filesystem up to about ``leave`` free bytes."""
    filler = mnt / "filler"
    free = shutil.disk_usage(mnt).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    assert shutil.disk_usage(mnt).free <= leave + 8192
    return filler


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if any(m in p.name for m in TEMP_MARKERS)]


def final_error(err: str) -> str:
    """Progress lines may come first (train); the failure is exactly one ``error:`` line, at the end."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err and [ln for ln in lines if ln.startswith("error: ")] == lines[-1:], err
    return lines[-1]


def snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def test_train_on_a_full_disk_keeps_last_pt_and_resumes(
    small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgesr.train.checkpoint import load_checkpoint
    from edgesr.train.loop import run_training

    data = image_folder(tmp_path / "data")
    run = small_fs / "run"
    opts = {**TINY, "steps": 4, "save_every": 2, "sample_every": 100, "val_every": 100, "data": str(data)}
    first = run_training({**opts, "out": str(run)}, stop_at=2)
    assert first.step == 2 and not first.finished
    good = snapshot([run / "last.pt"])

    filler = fill(small_fs, leave=16 * 1024)  # the metrics lines fit, the next checkpoint does not
    code, _, err = cli(capsys, "train", "--resume", "--out", run)
    line = final_error(err)
    assert code == 1 and "cannot write checkpoint" in line and "No space left on device" in line, line
    assert leftovers(small_fs) == []
    assert snapshot([run / "last.pt"]) == good and load_checkpoint(run / "last.pt")["step"] == 2

    filler.unlink()  # space is back: the same resume now finishes the run
    code, _, err = cli(capsys, "train", "--resume", "--out", run)
    assert code == 0, err
    assert load_checkpoint(run / "last.pt")["step"] == 4 and leftovers(small_fs) == []


def test_build_engine_on_a_full_disk_keeps_the_previous_engine(
    small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))
    engine = small_fs / "m.ort.onnx"
    args = ["build-engine", onnx, "-o", engine, "--backend", "onnxruntime", *SMALL_PROFILE]
    assert cli(capsys, *args)[0] == 0
    kept = sorted(small_fs.iterdir())
    good = snapshot([engine, engine.with_name(engine.name + ".json"), engine.with_name(engine.name + ".gate.json")])

    filler = fill(small_fs, leave=32 * 1024)  # smaller than the engine
    code, _, err = cli(capsys, *args)
    line = one_line_error(err)
    assert code == 1 and "cannot write" in line and "No space left on device" in line, line
    assert leftovers(small_fs) == [] and sorted(small_fs.iterdir()) == sorted([*kept, filler])
    assert snapshot(list(good)) == good  # engine, sidecar and gate report all as they were

    filler.unlink()
    assert cli(capsys, *args)[0] == 0 and leftovers(small_fs) == []


def test_stream_on_a_full_disk_stops_at_the_first_failed_write(
    small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))
    short = tinymodel.write_video(tmp_path / "short.mp4", tinymodel.test_frames(10, 16, 16), audio=False)
    long = tinymodel.write_video(tmp_path / "long.mp4", tinymodel.test_frames(400, 16, 16, seed=1), audio=False)
    out = small_fs / "out.mp4"
    base = ["stream", "--engine", model, "-o", out, "-q", "--check-every", "0"]
    assert cli(capsys, *base, "--video", short)[0] == 0
    good = snapshot([out, small_fs / "out.report.json"])

    filler = fill(small_fs, leave=8 * 1024)
    code, _, err = cli(capsys, *base, "--video", long)
    line = one_line_error(err)
    assert code == 1 and f"cannot write {out}" in line and "No space left on device" in line, line
    assert leftovers(small_fs) == [] and snapshot([out, small_fs / "out.report.json"]) == good  # video and its report
    report = json.loads((small_fs / "out.report.failed.json").read_text())  # the failed run's, beside them
    assert report["frames_in"] < 400 and report["error"] == line.removeprefix("error: ")  # stopped early

    filler.unlink()
    assert cli(capsys, *base, "--video", short)[0] == 0 and leftovers(small_fs) == []


@pytest.mark.parametrize("command", ["export", "eval --json"])
def test_single_file_outputs_on_a_full_disk(
    small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from edgesr.imageops import save_image

    if command == "export":
        out = small_fs / "g.onnx"
        args = ["export", tiny_checkpoint(tmp_path / "g.pt"), "-o", out, "--parity-size", "16x16"]
    else:
        images = tmp_path / "images"
        save_image(images / "a.png", np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8))
        out = small_fs / "scores.json"
        args = ["eval", "--bicubic", "--data", images, "--json", out]
    out.write_bytes(b"the previous good file")
    fill(small_fs, leave=0)
    code, _, err = cli(capsys, *args)
    line = one_line_error(err)
    assert code == 1 and "cannot write" in line and str(out) in line and "No space left" in line, line
    assert leftovers(small_fs) == [] and out.read_bytes() == b"the previous good file"

"""``edgesr train / eval / upscale`` through the real CLI entry point: exit codes, one-line
errors, bad input, interrupted and killed runs resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_helpers import TINY, cli_args, image_folder

from edgesr.cli.main import main
from edgesr.imageops import load_image
from edgesr.train.checkpoint import load_checkpoint


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("cli") / "train", n=3)


@pytest.fixture(scope="module")
def x4_checkpoint(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    from edgesr.train.loop import run_training

    out = tmp_path_factory.mktemp("cli") / "run"
    return run_training({**TINY, "data": str(data), "out": str(out), "steps": 1}).last_checkpoint


def test_eval_bicubic_reproduces_the_published_set5_baseline(set5: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["eval", "--bicubic", "--data", str(set5), "--json", str(tmp_path / "r.json")], capsys)
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["method"] == "bicubic" and len(result["images"]) == 5
    assert result["mean_psnr"] == pytest.approx(28.42, abs=0.05)
    assert result["mean_ssim"] == pytest.approx(0.810, abs=0.005)
    assert "28.4" in out and "baby" in out


def test_eval_model_table_json_and_saved_images(x4_checkpoint: Path, data: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["eval", "--checkpoint", str(x4_checkpoint), "--data", str(data),
                            "--save-images", str(tmp_path / "sr")], capsys)
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["method"] == "edge_xs" and summary["scale"] == 4 and np.isfinite(summary["mean_psnr"])
    assert len(list((tmp_path / "sr").glob("*.png"))) == 3


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["eval", "--checkpoint", "{tmp}/missing.pt", "--data", "{data}"], 1, "checkpoint not found"),
        (["eval", "--checkpoint", "{ckpt}", "--data", "{data}", "--scale", "2"], 1, "is a x4 model, but x2"),
        (["eval", "--checkpoint", "{ckpt}", "--bicubic", "--data", "{data}"], 2, "--bicubic"),
        (["eval", "--checkpoint", "{tmp}/notckpt.pt", "--data", "{data}"], 1, "not a readable edgesr checkpoint"),
        (["upscale", "{tmp}/missing.png", "-o", "{tmp}/o.png", "--checkpoint", "{ckpt}"], 1, "image not found"),
        (["train", "--data", "{tmp}/empty", "--out", "{tmp}/r"], 1, "no images"),
        (["train", "--data", "{data}", "--out", "{tmp}/r", "--crop", "30"], 2, "not a multiple"),
        (["train", "--phase", "srgan", "--data", "{data}", "--out", "{tmp}/r"], 2, "--init"),
        (["train", "--resume", "--out", "{tmp}/nothing"], 1, "nothing to resume"),
        (["train", "--init", "{tmp}/missing.pt", "--out", "{tmp}/r"], 1, "checkpoint not found"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(argv: list[str], code: int, message: str, tmp_path: Path,
                                                data: Path, x4_checkpoint: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notckpt.pt").write_bytes(b"garbage")
    args = [a.format(tmp=tmp_path, data=data, ckpt=x4_checkpoint) for a in argv]
    got, _, err = run_cli(args, capsys)
    assert got == code
    assert message in error_line(err)
    assert "Traceback" not in err


def test_training_set_with_odd_images_trains_and_skips_cleanly(tmp_path: Path, data: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "odd"
    odd.mkdir()
    for p in data.iterdir():
        (odd / p.name).write_bytes(p.read_bytes())
    Image.fromarray(load_image(odd / "img0.png")[..., 0]).save(odd / "gray.png")  # 1 channel
    Image.fromarray(load_image(odd / "img1.png")[..., 1].astype(np.uint16) * 257).save(odd / "deep.png")  # 16-bit
    Image.fromarray(load_image(odd / "img2.png")[:20, :20]).save(odd / "small.png")
    (odd / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code, _, err = run_cli(["train", *cli_args({**TINY, "steps": 1}), "--data", str(odd), "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 0, err
    assert "broken.png" in err and "small.png (20x20)" in err
    assert "5 images from" in " ".join(err.split())  # 3 RGB + gray + 16-bit
    assert "gray.png" not in err and "deep.png" not in err


def test_non_empty_run_dir_is_never_clobbered(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(["train", *cli_args(TINY), "--data", str(data), "--out", str(out)], capsys)
    assert code == 2 and "not empty" in error_line(err)
    assert (out / "notes.txt").read_text() == "mine"
    code, _, err = run_cli(["train", *cli_args({**TINY, "steps": 1}), "--data", str(data), "--out", str(out),
                            "--overwrite"], capsys)
    assert code == 0 and (out / "notes.txt").read_text() == "mine" and (out / "last.pt").is_file()
    code, _, err = run_cli(["train", "--resume", "--out", str(out), "--preset", "srresnet"], capsys)
    assert code == 2 and "preset" in error_line(err)


def test_upscale_writes_the_image(x4_checkpoint: Path, tmp_path: Path, data: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = data / "img0.png"
    code, out, _ = run_cli(["upscale", str(src), "-c", str(x4_checkpoint), "-o", str(tmp_path / "big.png")], capsys)
    assert code == 0
    h, w = load_image(src).shape[:2]
    assert load_image(tmp_path / "big.png").shape == (4 * h, 4 * w, 3)
    code, _, err = run_cli(["upscale", str(src), "-c", str(x4_checkpoint), "-o", str(src)], capsys)
    assert code == 2 and "refusing to overwrite" in error_line(err)


def _loss_steps(metrics: Path) -> list[int]:
    if not metrics.exists():
        return []
    return [json.loads(ln)["step"] for ln in metrics.read_text().splitlines() if '"loss"' in ln]


def _wait_for_step(metrics: Path, proc: subprocess.Popen[str], at_least: int, timeout: float = 240) -> int:
    """Wait until THIS process has logged a step >= ``at_least`` (lines already in the file
    from an earlier process do not count)."""
    seen = len(_loss_steps(metrics))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stderr.read() if proc.stderr else ''}")
        new = _loss_steps(metrics)[seen:]
        if new and new[-1] >= at_least:
            return new[-1]
        time.sleep(0.2)
    pytest.fail("training made no progress")


@pytest.mark.slow
def test_killed_and_interrupted_runs_resume_losing_nothing(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    base = [sys.executable, "-m", "edgesr", "train"]
    args = [*cli_args({**TINY, "steps": 100_000, "save_every": 3}), "--data", str(data), "--out", str(out)]
    # 1. SIGKILL: nothing can be saved then; the last periodic checkpoint must be intact
    proc = subprocess.Popen([*base, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _wait_for_step(out / "metrics.jsonl", proc, 7)
    proc.kill()
    proc.wait(timeout=60)
    saved = load_checkpoint(out / "last.pt")["step"]
    assert saved >= 6 and saved % 3 == 0
    # 2. resume, then Ctrl-C: finishes the step, writes last.pt, says how to resume, exit 130
    proc = subprocess.Popen([*base, "--resume", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    _wait_for_step(out / "metrics.jsonl", proc, saved + 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    stopped_at = load_checkpoint(out / "last.pt")["step"]
    assert stopped_at > saved
    assert f"stopped at step {stopped_at}" in err and f"edgesr train --resume --out {out}" in err
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["event"] == "stopped" and rows[-1]["step"] == stopped_at
    logged = [r["step"] for r in rows if "loss" in r]
    assert logged == list(range(1, stopped_at + 1))  # the killed run's unsaved steps were dropped, then redone

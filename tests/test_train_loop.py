"""Training runs for real (tiny preset, tiny crops, a few steps): outputs, exact resume,
SRGAN phase, init checks, run-directory safety."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from train_helpers import TINY, image_folder

from edgesr.errors import IncompatibleArtifactError, UsageError
from edgesr.imageops import load_image
from edgesr.train.checkpoint import load_checkpoint, load_generator, save_checkpoint
from edgesr.train.loop import run_training


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "train", n=3)


@pytest.fixture(scope="module")
def val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "val", n=2, size=(48, 40), seed=1)


def _metrics(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_run_writes_config_metrics_samples_and_checkpoints(tmp_path: Path, data: Path, val: Path) -> None:
    out = tmp_path / "run"
    result = run_training({**TINY, "data": str(data), "val": str(val), "out": str(out), "steps": 4})
    assert result.finished and result.step == 4
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"] == "edge_xs" and cfg["loss"] == "l1" and cfg["lr"] == 1e-3 and cfg["decay"] == "cosine"
    rows = _metrics(out)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert lrs[0] == pytest.approx(1e-3) and lrs == sorted(lrs, reverse=True)  # cosine decay
    assert [r["step"] for r in rows if "val_psnr" in r] == [2, 4]
    grid = load_image(out / "samples" / "step_0000002.png")
    assert grid.shape[1] == 3 * 40 + 8  # bicubic | SR | HR of the first validation image
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["step"] == 4 and ckpt["spec"].preset == "edge_xs" and "optim_g" in ckpt
    assert (out / "best.pt").is_file() and result.best_psnr is not None
    model = load_generator(out / "last.pt", expect_scale=4)
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_resume_continues_exactly(tmp_path: Path, data: Path) -> None:
    base = {**TINY, "data": str(data), "steps": 5, "save_every": 100}
    straight = run_training({**base, "out": str(tmp_path / "a")})
    part = run_training({**base, "out": str(tmp_path / "b")}, stop_at=2)
    assert not part.finished and part.step == 2
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 2
    resumed = run_training({"out": str(tmp_path / "b")}, resume=True)
    assert resumed.finished and resumed.step == 5
    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    for k, v in a["generator"].items():
        torch.testing.assert_close(b["generator"][k], v, rtol=0, atol=1e-6, msg=k)
    assert a["optim_g"]["state"][0]["step"] == b["optim_g"]["state"][0]["step"]
    la = [(r["step"], r["loss"], r["lr"]) for r in _metrics(tmp_path / "a") if "loss" in r]
    lb = [(r["step"], r["loss"], r["lr"]) for r in _metrics(tmp_path / "b") if "loss" in r]
    assert [s for s, _, _ in lb] == [1, 2, 3, 4, 5]
    for (sa, xa, ra), (sb, xb, rb) in zip(la, lb, strict=True):
        assert sa == sb and xa == pytest.approx(xb, rel=1e-5) and ra == pytest.approx(rb)


def test_resume_refusals(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(Exception, match="nothing to resume"):
        run_training({"out": str(out)}, resume=True)
    run_training({**TINY, "data": str(data), "out": str(out), "steps": 1})
    with pytest.raises(UsageError, match="not empty"):
        run_training({**TINY, "data": str(data), "out": str(out)})
    with pytest.raises(UsageError, match="preset"):
        run_training({"out": str(out), "preset": "edge_s"}, resume=True)
    with pytest.raises(UsageError, match="contradict"):
        run_training({"out": str(out)}, resume=True, overwrite=True)
    again = run_training({**TINY, "data": str(data), "out": str(out), "steps": 2}, overwrite=True)
    assert again.step == 2 and len([r for r in _metrics(out) if "loss" in r]) == 2  # old metrics replaced


def test_time_budget_ends_the_run_with_the_schedule_done(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "run"
    result = run_training({**TINY, "data": str(data), "out": str(out), "steps": 10_000, "time_budget_min": 1e-4})
    assert result.finished and 1 <= result.step < 10_000
    assert load_checkpoint(out / "last.pt")["sched_g"]["progress"] == 1.0


def test_srgan_phase_from_srresnet_checkpoint(tmp_path: Path, data: Path) -> None:
    from test_train_vgg import random_vgg19_state

    pre = run_training({**TINY, "data": str(data), "out": str(tmp_path / "pre"), "steps": 2})
    vgg = tmp_path / "vgg19.pth"
    torch.save(random_vgg19_state(), vgg)
    out = tmp_path / "gan"
    result = run_training({
        **TINY, "preset": None, "phase": "srgan", "init": str(pre.last_checkpoint), "data": str(data),
        "out": str(out), "content": "vgg22", "vgg_weights": str(vgg), "steps": 3,
    })
    assert result.finished
    rows = [r for r in _metrics(out) if "loss_g" in r]
    assert len(rows) == 3
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("loss_g", "content", "adv", "loss_d"))
        assert 0.0 < r["d_real"] < 1.0 and 0.0 < r["d_fake"] < 1.0
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["phase"] == "srgan" and "discriminator" in ckpt and "optim_d" in ckpt
    assert ckpt["spec"].preset == "edge_xs"  # taken from --init


def test_init_of_another_model_is_refused(tmp_path: Path, data: Path) -> None:
    from edgesr.spec import edge_xs
    from edgesr.train.arch import build_generator

    other = tmp_path / "x2.pt"
    save_checkpoint(other, {"spec": edge_xs(2), "generator": build_generator(edge_xs(2)).state_dict()})
    with pytest.raises(IncompatibleArtifactError, match="x2"):
        run_training({**TINY, "data": str(data), "out": str(tmp_path / "r"), "init": str(other), "scale": 4})

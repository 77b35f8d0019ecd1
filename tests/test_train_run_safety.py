"""The run directory under hostile or broken conditions: a second ``train`` into the same ``--out`` is refused
while the first holds it; a torn last line of ``metrics.jsonl`` (a kill or power cut during the append)
does not stop ``--resume``; a symbolic link planted as ``metrics.jsonl`` is never written through."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from train_helpers import TINY, image_folder

from edgesr.errors import BadInputError, UsageError
from edgesr.train.loop import run_training
from edgesr.train.run_dir import lock_run_dir


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "train", n=3)


def test_a_held_run_directory_is_refused(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "run"
    holder = lock_run_dir(out)  # another edgesr train holds it (an open file description of its own)
    assert holder is not None
    try:
        with pytest.raises(UsageError, match="in use by another edgesr train"):
            run_training({**TINY, "data": str(data), "out": str(out)})
        assert not (out / "config.json").exists() and not (out / "last.pt").exists()
    finally:
        os.close(holder)
    assert run_training({**TINY, "data": str(data), "out": str(out)}).finished  # free again: it runs


def test_resume_survives_a_torn_metrics_line(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "run"
    base = {**TINY, "data": str(data), "steps": 4, "save_every": 100}
    run_training({**base, "out": str(out)}, stop_at=2)
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "loss": 0.1')  # the append a power cut interrupted
    resumed = run_training({"out": str(out)}, resume=True)
    assert resumed.finished and resumed.step == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]


def test_metrics_never_follow_a_planted_symlink(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "run"
    base = {**TINY, "data": str(data), "steps": 4, "save_every": 100}
    run_training({**base, "out": str(out)}, stop_at=2)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / "metrics.jsonl").unlink()
    (out / "metrics.jsonl").symlink_to(victim)
    with pytest.raises(BadInputError, match="symbolic link"):
        run_training({"out": str(out)}, resume=True)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("phase", ["srresnet", "qat"])
def test_a_diverged_run_stops_instead_of_training_on_nan(tmp_path: Path, data: Path, phase: str) -> None:
    """Weights that overflow the forward pass (finite, 1e30 times too large) make the loss non-finite: the run
    stops with one line and writes no checkpoint of garbage, in every phase (``--phase qat`` trained on NaN
    and exited 0)."""
    import torch

    from edgesr.train.checkpoint import load_checkpoint, save_checkpoint

    run_training({**TINY, "data": str(data), "out": str(tmp_path / "a"), "steps": 2, "save_every": 100})
    c = load_checkpoint(tmp_path / "a" / "last.pt")
    huge = {k: (v * 1e30 if torch.is_floating_point(v) else v) for k, v in c["generator"].items()}
    save_checkpoint(tmp_path / "huge.pt", {"spec": c["spec"], "generator": huge})
    out = tmp_path / phase
    with pytest.raises(BadInputError, match="no longer finite"):
        run_training({**TINY, "data": str(data), "out": str(out), "steps": 4, "init": str(tmp_path / "huge.pt"),
                      "phase": phase, "save_every": 100})
    assert not (out / "last.pt").exists()


@pytest.mark.parametrize(("phase", "flag", "value"), [("qat", "--content", "vgg54"), ("srresnet", "--content", "pixel"),
                                                       ("srresnet", "--adv-weight", "0.01")])
def test_srgan_only_flags_are_refused_in_other_phases(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path,
                                                      phase: str, flag: str, value: str) -> None:
    from export_helpers import cli, one_line_error

    init = ["--init", str(tmp_path / "some.pt")] if phase == "qat" else []
    code, _, err = cli(capsys, "train", "--data", str(data), "--out", str(tmp_path / "run"), "--phase", phase,
                       *init, flag, value)
    assert code == 2 and f"{flag} applies to --phase srgan" in one_line_error(err)

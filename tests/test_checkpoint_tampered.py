"""Malformed and tampered checkpoints are one line in every command, never a traceback: ``format`` not a
number, ``generator`` not a dict of tensors, NaN weights, a broken spec, ``step: "abc"``, and a ``last.pt``
that lacks what ``--resume`` restores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from export_helpers import cli, one_line_error
from PIL import Image
from train_helpers import TINY, image_folder

from edgesr.train.loop import run_training


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ckpt")
    data = image_folder(d / "data", n=3)
    run_training({**TINY, "data": str(data), "out": str(d / "run"), "steps": 2, "save_every": 2})
    return d / "run" / "last.pt"


def _nan(c: dict[str, Any]) -> None:
    k = next(iter(c["generator"]))
    c["generator"][k] = torch.full_like(c["generator"][k], float("nan"))


TAMPER: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "format text": (lambda c: c.update(format="one"), "format 'one' is not a number"),
    "generator list": (lambda c: c.update(generator=[1, 2]), "'generator' is not a dict of tensors"),
    "nan weights": (_nan, "NaN or infinite weights"),
    "spec not a dict": (lambda c: c.update(spec=42), "spec"),
    "step text": (lambda c: c.update(step="abc"), "step 'abc'"),
}


def _tampered(good: Path, tmp: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    c = torch.load(good, map_location="cpu", weights_only=True)
    change(c)
    out = tmp / "bad.pt"
    torch.save(c, out)
    return out


@pytest.mark.parametrize("case", list(TAMPER))
def test_tampered_checkpoint_is_one_line_in_upscale(capsys: pytest.CaptureFixture[str], good: Path, tmp_path: Path,
                                                    case: str) -> None:
    change, message = TAMPER[case]
    bad = _tampered(good, tmp_path, change)
    img = tmp_path / "in.png"
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(img)
    code, _, err = cli(capsys, "upscale", str(img), "-c", str(bad), "-o", str(tmp_path / "out.png"))
    assert code != 0 and message in one_line_error(err)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("drop", ["rng", "sched_g", "config"])
def test_resume_of_a_tampered_last_pt_is_one_line(capsys: pytest.CaptureFixture[str], good: Path, tmp_path: Path,
                                                  drop: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    c = torch.load(good, map_location="cpu", weights_only=True)
    del c[drop]
    torch.save(c, run / "last.pt")
    code, _, err = cli(capsys, "train", "--out", str(run), "--resume")
    line = one_line_error(err)
    assert code != 0 and ("cannot be resumed" in line or "weights-only" in line), line


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_a_pickle_with_code_gets_edgesrs_words_not_torchs_advice(tmp_path: Path) -> None:
    """torch's "Weights only load failed ... Re-running with weights_only=False" advice is never shown: the
    checkpoint loader and the VGG weights loader both say it is not trusted."""
    from edgesr.errors import IncompatibleArtifactError
    from edgesr.train.checkpoint import load_checkpoint
    from edgesr.train.vgg import _load_file

    evil = tmp_path / "evil.pt"
    torch.save({"spec": {}, "generator": _Evil()}, evil)
    for load in (load_checkpoint, _load_file):
        with pytest.raises(IncompatibleArtifactError) as info:
            load(evil)
        text = str(info.value)
        assert "not a trusted" in text and "weights_only" not in text and "Re-running" not in text


def test_init_whose_weights_contradict_its_spec_is_one_line(capsys: pytest.CaptureFixture[str], good: Path,
                                                            tmp_path: Path) -> None:
    c = torch.load(good, map_location="cpu", weights_only=True)
    k = next(k for k, v in c["generator"].items() if v.ndim == 4)
    c["generator"][k] = torch.zeros(3, 3, 1, 1)  # wrong shape for its spec
    bad = tmp_path / "bad.pt"
    torch.save(c, bad)
    data = image_folder(tmp_path / "data", n=3)
    code, _, err = cli(capsys, "train", "--data", str(data), "--out", str(tmp_path / "run"), "--init", str(bad),
                       "--steps", "2", "--crop", "32", "--batch", "2", "--device", "cpu")
    assert code != 0 and "do not fit its own spec" in one_line_error(err)


def test_resume_with_a_wrong_optimiser_state_is_one_line(capsys: pytest.CaptureFixture[str], good: Path,
                                                         tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    c = torch.load(good, map_location="cpu", weights_only=True)
    c["optim_g"] = {"state": {}, "param_groups": []}  # does not fit the model's parameters
    torch.save(c, run / "last.pt")
    code, _, err = cli(capsys, "train", "--out", str(run), "--resume")
    assert code != 0 and "cannot be resumed" in one_line_error(err)

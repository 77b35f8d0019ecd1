"""TrainConfig: schedule defaults, TOML < flags precedence, refusing bad values and resume conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesr.errors import BadInputError, UsageError
from edgesr.train.config import TrainConfig, build_config, merge_for_resume
from edgesr.train.schedule import lr_at


def test_schedules_choose_their_defaults() -> None:
    fast = TrainConfig().resolved()
    assert (fast.loss, fast.lr, fast.decay) == ("l1", 1e-3, "cosine")
    paper = TrainConfig(schedule="paper").resolved()
    assert (paper.loss, paper.lr, paper.decay) == ("mse", 1e-4, "none")
    gan = TrainConfig(schedule="paper", phase="srgan", init="x.pt").resolved()
    assert gan.decay == "step"
    assert lr_at(0.49, 1e-4, "step") == 1e-4 and lr_at(0.5, 1e-4, "step") == pytest.approx(1e-5)
    assert lr_at(0.0, 1e-3, "cosine") == 1e-3 and lr_at(1.0, 1e-3, "cosine") == pytest.approx(0.0)
    assert TrainConfig(loss="mse", lr=5e-4).resolved().loss == "mse"


def test_toml_then_flags(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('[train]\npreset = "edge_xs"\nsteps = 7\nsave-every = 3\nlr = 0.002\n')
    cfg = build_config({"steps": 9, "lr": None}, f)
    assert (cfg.preset, cfg.steps, cfg.save_every, cfg.lr) == ("edge_xs", 9, 3, 0.002)
    f.write_text("stepz = 3\n")
    with pytest.raises(UsageError, match="unknown setting.*stepz"):
        build_config({}, f)
    f.write_text("steps = [\n")
    with pytest.raises(BadInputError, match="not valid TOML"):
        build_config({}, f)
    with pytest.raises(BadInputError, match="not found"):
        build_config({}, tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"crop": 30, "scale": 4}, "not a multiple of --scale"),
        ({"phase": "srgan", "init": "a.pt", "crop": 40}, "divisible by 16"),
        ({"phase": "srgan"}, "--init"),
        ({"schedule": "slow"}, "--schedule must be one of"),
        ({"steps": 0}, "--steps must be at least 1"),
        ({"lr": -1.0}, r"--lr must be a number in \(0, 1\]"),
        ({"lr": float("nan")}, r"--lr must be a number in \(0, 1\], got nan"),
        ({"scale": 0}, "--scale must be one of 2, 3, 4"),
    ],
)
def test_bad_values_are_usage_errors(kw: dict[str, object], msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        TrainConfig(**kw).resolved()  # type: ignore[arg-type]


def test_resume_refuses_changes_to_what_defines_the_run() -> None:
    saved = TrainConfig(preset="edge_s", steps=100).resolved()
    ok = merge_for_resume(saved, {"save_every": 10, "lr": 1e-3, "preset": "edge_s", "steps": None})
    assert ok.save_every == 10 and ok.steps == 100
    with pytest.raises(UsageError, match=r"preset \('edge_s' -> 'edge_xs'\)"):
        merge_for_resume(saved, {"preset": "edge_xs"})
    with pytest.raises(UsageError, match="scale"):
        merge_for_resume(saved, {"scale": 2})

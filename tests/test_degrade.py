"""``edgesr.degrade`` (eval's fixed, seeded degradations) and ``edgesr eval --degrade``: real images, real codecs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_helpers import image_folder

from edgesr.degrade import Degradation, degrade_image, gaussian_blur, parse_degrade
from edgesr.errors import UsageError
from edgesr.imageops import downscale, load_image
from edgesr.metrics import psnr


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    folder = image_folder(tmp_path_factory.mktemp("deg"), n=1, size=(96, 128), seed=3)
    return load_image(folder / "img0.png")


def test_spec_parses_every_stage_and_describes_itself() -> None:
    d = parse_degrade(" blur=1.0, noise=5,jpeg=60,h264=30,seed=7")
    assert d == Degradation(blur=1.0, noise=5.0, jpeg=60, h264=30, seed=7)
    assert parse_degrade(d.describe()) == d
    assert parse_degrade("noise=3").describe() == "noise=3"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sharpen=2", "unknown stage 'sharpen'"),
        ("blur=11", "blur must be a number in [0, 10]"),
        ("noise=-1", "noise must be a number in [0, 50]"),
        ("jpeg=0", "jpeg must be a whole number in [1, 100]"),
        ("jpeg=60.5", "whole number"),
        ("h264=52", "h264 must be a whole number in [0, 51]"),
        ("noise=abc", "noise must be a number"),
        ("noise", "noise needs a value"),
        ("noise=1,noise=2", "noise is given twice"),
        ("blur=nan", "blur must be"),
        ("", "at least one stage"),
    ],
)
def test_bad_specs_are_one_usage_line(spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=None) as err:
        parse_degrade(spec)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_each_stage_changes_the_image_and_noise_is_fixed_by_seed_and_name(photo: np.ndarray) -> None:
    clean = downscale(photo, 4)
    outs = {}
    for spec in ("blur=1.5", "noise=8", "jpeg=20", "h264=40"):
        lr = degrade_image(photo, 4, parse_degrade(spec), "a.png")
        assert lr.shape == clean.shape and lr.dtype == np.uint8
        outs[spec] = psnr(lr.astype(np.float64), clean.astype(np.float64))
        assert outs[spec] < 45, spec  # a visible change
    noisy = parse_degrade("noise=8")
    same = degrade_image(photo, 4, noisy, "a.png")
    np.testing.assert_array_equal(same, degrade_image(photo, 4, noisy, "a.png"))
    assert not np.array_equal(same, degrade_image(photo, 4, noisy, "b.png"))
    assert not np.array_equal(same, degrade_image(photo, 4, parse_degrade("noise=8,seed=1"), "a.png"))
    measured = np.std(same.astype(np.float64) - clean)
    assert 6.5 < measured < 9.0  # sigma 8 (a little less: clipping at 0 and 255)


def test_blur_is_a_normalised_gaussian(photo: np.ndarray) -> None:
    flat = np.full((20, 20, 3), 77, np.uint8)
    np.testing.assert_array_equal(gaussian_blur(flat, 2.0), flat)  # sums to 1, mirrored borders
    edge = np.zeros((9, 31, 3), np.uint8)
    edge[:, 15:] = 200
    row = gaussian_blur(edge, 2.0)[4, :, 0].astype(np.float64)
    assert row[15] - row[14] < 50 and row[0] == 0 and row[-1] == 200  # a step becomes a ramp
    assert abs(row[14] + row[15] - 200) <= 1  # symmetric about the step


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgesr", "eval", *args], capture_output=True, text=True, timeout=300)


def test_eval_degrade_scores_lower_and_refuses_a_bad_spec_in_one_line(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "hr", n=2, size=(96, 96), seed=5)
    bad = _eval("--bicubic", "--data", str(data), "--degrade", "blur=1,jpg=50")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown stage 'jpg'" in bad.stderr
    clean = json.loads(_eval("--bicubic", "--data", str(data)).stdout.strip().splitlines()[-1])
    run = _eval("--bicubic", "--data", str(data), "--degrade", "blur=1.0,noise=5,jpeg=60")
    assert run.returncode == 0, run.stderr
    degraded = json.loads(run.stdout.strip().splitlines()[-1])
    assert degraded["degrade"] == "blur=1,noise=5,jpeg=60" and clean["degrade"] is None
    assert degraded["mean_psnr"] < clean["mean_psnr"] - 1.0

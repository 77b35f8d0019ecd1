"""``--degradation real``: the Real-ESRGAN pipeline (kernels, stages, H.264), its [degradation] table, and that a
real-degradation run is seeded, resumable exactly and the same with data workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY, image_folder

from edgesr.errors import UsageError
from edgesr.train import degrade_kernels as K
from edgesr.train.checkpoint import load_checkpoint
from edgesr.train.config import build_config, read_toml
from edgesr.train.data import PatchSampler, load_pairs
from edgesr.train.degrade_real import RealDegradation, degrade, h264_tiles
from edgesr.train.loop import run_training


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "train", n=3, size=(96, 104))


def test_kernels_are_normalised_and_shaped_as_named() -> None:
    iso = K.gaussian(21, 2.0, 2.0, 0.0)
    aniso = K.gaussian(21, 3.0, 0.5, 0.0)
    assert iso.sum() == pytest.approx(1.0, abs=1e-5) and np.allclose(iso, iso.T, atol=1e-7)
    assert aniso[10, :].sum() > 3 * aniso[:, 10].sum()  # long along x
    rotated = K.gaussian(21, 3.0, 0.5, np.pi / 2)
    np.testing.assert_allclose(rotated, aniso.T, atol=1e-6)
    flat, peaked = K.generalized_gaussian(21, 2.0, 2.0, 0.0, 4.0), K.generalized_gaussian(21, 2.0, 2.0, 0.0, 0.5)
    ratio = lambda k: k[10, 11] / k[10, 10]  # noqa: E731  (1: flat top)
    assert ratio(peaked) < ratio(iso) < ratio(flat)
    plateau = K.plateau(21, 2.0, 2.0, 0.0, 2.0)
    assert plateau[10, 10] == pytest.approx(plateau[10, 11], rel=0.2)
    s = K.sinc(21, np.pi / 4)
    assert s.sum() == pytest.approx(1.0, abs=1e-5) and s.min() < 0  # ringing lobes
    rng = np.random.default_rng(0)
    p = RealDegradation()
    for _ in range(30):
        k = K.random_kernel(rng, p.kernel_prob, p.sinc_prob, p.blur_sigma, p.betag_range, p.betap_range)
        assert k.shape[0] in K.KERNEL_SIZES and k.sum() == pytest.approx(1.0, abs=1e-4)


def test_pipeline_makes_seeded_lr_of_the_scaled_size(data: Path) -> None:
    pair = load_pairs(data, 4)[0]
    p = RealDegradation()
    a = degrade(pair.hr, 4, p, np.random.default_rng(5))
    assert a.shape == pair.lr.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, degrade(pair.hr, 4, p, np.random.default_rng(5)))
    draws = [degrade(pair.hr, 4, p, np.random.default_rng(s)) for s in range(6)]
    assert len({d.tobytes() for d in draws}) == 6
    errors = [np.abs(d.astype(float) - pair.lr).mean() for d in draws]
    assert min(errors) > 0.5  # never the clean downscale


def test_h264_tiles_round_trip_each_crop_in_place() -> None:
    rng = np.random.default_rng(0)
    tiles = [np.full((16, 16, 3), 30 * i, np.uint8) + rng.integers(0, 20, (16, 16, 3), dtype=np.uint8)
             for i in range(5)]
    lossless = h264_tiles(tiles, 0)
    strong = h264_tiles(tiles, 45)
    for t, a, b in zip(tiles, lossless, strong, strict=True):
        assert a.shape == t.shape
        assert np.abs(a.astype(float) - t).mean() < np.abs(b.astype(float) - t).mean()
        assert abs(float(b.mean()) - float(t.mean())) < 8  # the same tile came back


def test_degradation_table_overrides_and_refuses_in_one_line(tmp_path: Path) -> None:
    p = RealDegradation.from_table({"noise_range": [0, 5], "jpeg_range": [70, 95], "h264_prob": 0.0})
    assert p.noise_range == (0.0, 5.0) and p.jpeg_range == (70.0, 95.0) and p.blur_sigma == (0.2, 3.0)
    for table, words in [
        ({"nois_range": [1, 2]}, "unknown key(s) nois_range"),
        ({"noise_range": [5, 1]}, "low <= high"),
        ({"jpeg_range": [0, 50]}, "1 <= low"),
        ({"sinc_prob": 1.5}, "probability"),
        ({"kernel_prob": [0, 0, 0, 0, 0, 0]}, "not all 0"),
        ({"resize_prob": [1, 1]}, "list of 3"),
        ({"noise_range": ["a", 2]}, "finite number"),
    ]:
        with pytest.raises(UsageError) as err:
            RealDegradation.from_table(table)
        assert words in str(err.value) and "\n" not in str(err.value)
    cfg = tmp_path / "run.toml"
    cfg.write_text('[train]\ndegradation = "real"\nsteps = 3\n\n[degradation]\nnoise-range = [0, 5]\n')
    values = read_toml(cfg)
    assert values["degradation"] == "real" and values["degradation_params"] == {"noise_range": [0, 5]}
    assert build_config({}, cfg).resolved().degradation_params == {"noise_range": [0, 5]}
    cfg.write_text("steps = 3\n\n[degradation]\nnoise_range = [0, 5]\n")
    with pytest.raises(UsageError, match="add --degradation real"):
        build_config({}, cfg).resolved()
    cfg.write_text('[train]\ndegradation = "real"\n[degradation]\nnoise_range = [0, 500]\n')
    with pytest.raises(UsageError, match="noise_range"):
        build_config({}, cfg).resolved()
    with pytest.raises(UsageError, match="--degradation must be one of bicubic, real"):
        build_config({"degradation": "jpeg"}).resolved()


def test_sampler_batches_are_a_pure_function_of_the_draws(data: Path) -> None:
    pairs = load_pairs(data, 4, min_lr=8)
    a = PatchSampler(pairs, 4, 32, 3, RealDegradation())
    b = PatchSampler(pairs, 4, 32, 3, RealDegradation())
    draws = a.draw(6)
    assert draws.shape == (6, 5)
    np.testing.assert_array_equal(a.build(draws)[0], b.build(b.draw(6))[0])
    lr, hr = a.build(draws)
    assert lr.shape == (6, 3, 8, 8) and hr.shape == (6, 3, 32, 32)
    clean = PatchSampler(pairs, 4, 32, 3).build(draws[:, :4])[0]
    assert np.abs(lr - clean).mean() > 0.005
    always_clean = PatchSampler(pairs, 4, 32, 3, RealDegradation(clean_prob=1.0, h264_prob=0.0))
    np.testing.assert_array_equal(always_clean.build(draws)[0], clean)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["generator"]


def test_real_runs_resume_exactly_and_workers_change_nothing(tmp_path: Path, data: Path) -> None:
    base = {**TINY, "data": str(data), "steps": 5, "save_every": 100, "degradation": "real", "crop": 32}
    straight = run_training({**base, "out": str(tmp_path / "a")})
    part = run_training({**base, "out": str(tmp_path / "b"), "data_workers": 2}, stop_at=2)
    assert not part.finished and part.step == 2
    resumed = run_training({"out": str(tmp_path / "b")}, resume=True)  # now in-process: workers only prefetch
    assert resumed.finished and resumed.step == 5
    for k, v in _weights(straight.last_checkpoint).items():
        torch.testing.assert_close(_weights(resumed.last_checkpoint)[k], v, rtol=0, atol=1e-6, msg=k)
    losses = lambda run: [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())  # noqa: E731
                          if "loss" in r]
    assert losses(tmp_path / "a") == pytest.approx(losses(tmp_path / "b"), rel=1e-5)
    bicubic = run_training({**base, "degradation": "bicubic", "out": str(tmp_path / "c")})
    first = lambda run: json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["loss"]  # noqa: E731
    assert first(tmp_path / "c") != pytest.approx(first(tmp_path / "a"), rel=1e-3)
    assert bicubic.finished

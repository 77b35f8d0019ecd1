"""Camera-like synthetic content (edgesr.synthetic, export.camera_content): deterministic, every class present,
overlays where they are drawn, Pillow's own fonts when no system font is found; the calibration mix and its
opt-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_helpers import SMALL_PROFILE, cli, one_line_error

from edgesr import synthetic
from edgesr.export import camera_content
from edgesr.export.calibration import CalibrationConfig, calibration_files
from edgesr.imageops import list_images, load_image, save_image


def _photos(rng: np.random.Generator) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:96, 0:128]
    smooth = np.stack([xx * 2, yy * 2, (xx + yy)], axis=2).astype(np.uint8)
    return [smooth, rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)]


def test_frames_are_deterministic_and_cover_both_synthetic_classes(rng: np.random.Generator) -> None:
    photos = _photos(rng)
    a = synthetic.frames(photos, (60, 80), 8, seed=3)
    b = synthetic.frames(photos, (60, 80), 8, seed=3)
    c = synthetic.frames(photos, (60, 80), 8, seed=4)
    assert [f.name for f in a] == [f.name for f in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x.image, y.image) for x, y in zip(a, c, strict=True))
    assert {f.content for f in a} == {"overlay_text", "synthetic_graphics"}
    assert {k for k in synthetic.GRAPHICS if any(k in f.name for f in a)} == set(synthetic.GRAPHICS)
    for f in a:
        assert f.image.shape == (60, 80, 3) and f.image.dtype == np.uint8
        if f.layer is not None:  # text and a logo, drawn only where the layer is opaque
            covered = f.layer[..., 3] > 0
            assert 0.01 < covered.mean() < 0.6
            assert np.all(f.image[~covered] == synthetic.composite(f.image, np.zeros_like(f.layer))[~covered])


def test_fonts_fall_back_to_pillows_own(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    found = synthetic.fonts()
    assert found[0].name == "pillow-bitmap"
    monkeypatch.setattr(synthetic, "FONT_DIRS", ())  # a machine without system fonts
    own = synthetic.fonts()
    assert {f.path for f in own} == {None} and len(own) <= len(found)
    frames = synthetic.frames(_photos(rng), (48, 64), 4, seed=0, sources=own)
    assert all(f.image.std() > 5 for f in frames)


def test_check_pairs_fit_the_engine_and_carry_the_overlay_in_lr_and_hr(rng: np.random.Generator) -> None:
    photos = [("a.png", p) for p in _photos(rng)]
    pairs = camera_content.check_pairs(photos, 4, max_lr=(48, 64), min_lr=(16, 16))
    assert [c for _, c in pairs].count("overlay_text") == camera_content.CHECK_FRAMES
    assert [c for _, c in pairs].count("synthetic_graphics") == camera_content.CHECK_FRAMES
    for pair, _ in pairs:
        assert pair.lr.shape[0] <= 48 and pair.lr.shape[1] <= 64
        assert pair.hr.shape == (pair.lr.shape[0] * 4, pair.lr.shape[1] * 4, 3)
    again = camera_content.check_pairs(photos, 4, max_lr=(48, 64), min_lr=(16, 16))
    assert all(np.array_equal(p.lr, q.lr) for (p, _), (q, _) in zip(pairs, again, strict=True))


def test_calibration_mixes_synthetic_frames_unless_opted_out(tmp_path: Path, rng: np.random.Generator) -> None:
    for i, p in enumerate(_photos(rng)):
        save_image(tmp_path / f"user{i}.png", p)
    mixed = calibration_files(CalibrationConfig(data=str(tmp_path), images=8, shape=(24, 32)))
    assert len(mixed) == 8
    synth = [i for i, f in enumerate(mixed) if f.parent != tmp_path]
    assert synth == [3, 7]  # every 4th crop: a quarter of them, also in any prefix (the sensitivity search)
    assert all(load_image(mixed[i]).shape == (24, 32, 3) for i in synth)
    assert calibration_files(CalibrationConfig(data=str(tmp_path), images=8, shape=(24, 32))) == mixed  # cached
    plain = calibration_files(CalibrationConfig(data=str(tmp_path), images=8, shape=(24, 32), mix="none"))
    assert plain == list_images(tmp_path)


def test_calib_mix_flag_is_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    onnx = tmp_path / "m.onnx"
    code, _, err = cli(capsys, "build-engine", onnx, "--backend", "onnxruntime", *SMALL_PROFILE, "--int8",
                       "--calib-mix", "sometimes")
    assert code == 2 and "--calib-mix must be one of camera, none" in one_line_error(err)
    code, _, err = cli(capsys, "build-engine", onnx, "--backend", "onnxruntime", "--fp16", "--calib-mix", "none")
    assert code == 2 and "--calib-mix only apply to --int8 builds" in one_line_error(err)

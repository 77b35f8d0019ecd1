from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesr.errors import BadInputError
from edgesr.imageops import (
    downscale,
    from_nchw,
    imresize,
    list_images,
    load_image,
    mod_crop,
    read_image,
    save_image,
    to_nchw,
    upscale_bicubic,
)
from edgesr.metrics import psnr, sr_psnr_ssim, ssim


def test_nchw_roundtrip_is_exact(rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    x = to_nchw(img)
    assert x.shape == (1, 3, 17, 23) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(from_nchw(x[0]), img)
    np.testing.assert_array_equal(from_nchw(x)[0], img)


def test_from_nchw_clips_once() -> None:
    x = np.array([[[[-0.5, 1.7]], [[0.5, 0.0]], [[1.0, 2.0]]]], dtype=np.float32)
    out = from_nchw(x)
    assert out.tolist() == [[[[0, 128, 255], [255, 0, 255]]]]


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16", "CMYK"])
def test_load_converts_modes_to_rgb(tmp_path: Path, mode: str, rng: np.random.Generator) -> None:
    base = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray((rng.integers(0, 65536, (20, 30))).astype(np.uint16))
    else:
        im = base.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("I;16", "CMYK") else "x.png")
    im.save(path)
    img, gray = read_image(path)
    assert img.shape == (20, 30, 3) and img.dtype == np.uint8
    assert gray == (mode in ("L", "LA", "I;16"))


def test_sixteen_bit_scaled_not_truncated(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(tmp_path / "w.png")
    assert load_image(tmp_path / "w.png").min() == 255


def test_corrupt_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(BadInputError, match="bad.png"):
        load_image(bad)
    with pytest.raises(BadInputError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(BadInputError, match="no images"):
        (tmp_path / "empty").mkdir()
        list_images(tmp_path / "empty")


def test_save_is_atomic_and_round_trips(tmp_path: Path, rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    save_image(tmp_path / "a" / "b.png", img)
    np.testing.assert_array_equal(load_image(tmp_path / "a" / "b.png"), img)
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.png"]


def test_imresize_reproduces_linear_ramps_in_the_interior() -> None:
    # The cubic kernel (a = -0.5) reproduces linear functions, antialiased or not, so away
    # from the replicated edges an output pixel equals the ramp at its MATLAB sample
    # centre u = x / s + 0.5 * (1 - 1 / s) (1-based).
    ramp = np.tile(np.arange(64, dtype=np.float64), (5, 1))
    for s in (0.25, 0.5, 2.0, 4.0):
        out = imresize(ramp, size=(5, int(64 * s)))
        x = np.arange(1, out.shape[1] + 1)
        expected = x / s + 0.5 * (1 - 1 / s) - 1
        inner = slice(int(4 * s) + 3, -int(4 * s) - 3) if s > 1 else slice(3, -3)
        np.testing.assert_allclose(out[2, inner], expected[inner], atol=1e-9)


def test_imresize_constant_image_is_preserved() -> None:
    img = np.full((13, 11, 3), 77, dtype=np.uint8)
    assert (imresize(img, scale=1 / 3) == 77).all()
    assert (imresize(img, scale=4.0) == 77).all()
    assert upscale_bicubic(downscale(img, 4), 4).shape == mod_crop(img, 4).shape


def test_metrics_basics(rng: np.random.Generator) -> None:
    a = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    assert psnr(a, a) == float("inf")
    assert ssim(a.astype(float), a.astype(float)) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 5, 0, 255)
    assert 30 < psnr(a, b) < 40


def _bicubic_scores(folder: Path, scale: int) -> tuple[float, float]:
    ps, ss = [], []
    for path in list_images(folder):
        hr, gray = read_image(path)
        hr = mod_crop(hr, scale)
        sr = upscale_bicubic(downscale(hr, scale), scale)
        p, s = sr_psnr_ssim(sr, hr, scale, gray)
        ps.append(p)
        ss.append(s)
    return float(np.mean(ps)), float(np.mean(ss))


def test_bicubic_baseline_reproduces_published_set5(set5: Path) -> None:
    p, s = _bicubic_scores(set5, 4)
    assert p == pytest.approx(28.42, abs=0.05)  # SRGAN paper: 28.43
    assert s == pytest.approx(0.810, abs=0.005)


def test_bicubic_baseline_reproduces_published_set14(set14: Path) -> None:
    p, _ = _bicubic_scores(set14, 4)
    assert p == pytest.approx(26.00, abs=0.05)  # SRGAN paper: 25.99

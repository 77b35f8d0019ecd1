"""Training data: odd image files, skipping, aligned crops, augmentation, sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesr.errors import BadInputError
from edgesr.imageops import downscale, imresize
from edgesr.train.data import PatchSampler, augment, load_pairs


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random RGB image (bicubic-upscaled noise), so resampling is well behaved."""
    small = rng.integers(0, 256, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return imresize(small, size=(h, w))


@pytest.fixture
def odd_folder(tmp_path: Path, rng: np.random.Generator) -> Path:
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(_photo(rng, 64, 80)).save(d / "rgb.png")
    Image.fromarray(_photo(rng, 64, 64)[..., 0]).save(d / "gray.png")  # 1 channel
    Image.fromarray(_photo(rng, 72, 64)[..., 1].astype(np.uint16) * 257).save(d / "sub" / "deep16.png")  # 16-bit
    Image.fromarray(_photo(rng, 64, 64)).convert("P").save(d / "sub" / "palette.bmp")
    rgba = np.dstack([_photo(rng, 64, 64), np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(d / "alpha.webp", lossless=True)
    Image.fromarray(_photo(rng, 64, 64)).save(d / "photo.jpg", quality=95)
    Image.fromarray(_photo(rng, 20, 30)).save(d / "tiny.png")  # smaller than the crop
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    (d / "notes.txt").write_text("not an image")
    return d


def test_odd_images_converted_small_and_corrupt_skipped_with_one_line_each(odd_folder: Path) -> None:
    warnings: list[str] = []
    pairs = load_pairs(odd_folder, scale=4, min_lr=8, warn=warnings.append)
    names = sorted(p.name for p in pairs)
    assert names == ["alpha.webp", "deep16.png", "gray.png", "palette.bmp", "photo.jpg", "rgb.png"]
    for p in pairs:
        assert p.hr.dtype == np.uint8 and p.hr.ndim == 3 and p.hr.shape[2] == 3
        assert p.lr.shape == (p.hr.shape[0] // 4, p.hr.shape[1] // 4, 3)
    assert {p.name: p.gray for p in pairs}["gray.png"] and {p.name: p.gray for p in pairs}["deep16.png"]
    deep = next(p for p in pairs if p.name == "deep16.png")
    assert deep.hr.max() > 200  # 16-bit scaled to 8 bits, not clipped to black/white
    assert len(warnings) == 2
    assert "corrupt.png" in warnings[0] and "\n" not in warnings[0]
    assert "tiny.png" in warnings[1] and "smaller than the 32px crop" in warnings[1]


def test_empty_or_all_unusable_folder_is_a_clear_error(tmp_path: Path, rng: np.random.Generator) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="no images"):
        load_pairs(tmp_path / "empty", 4)
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(_photo(rng, 20, 20)).save(small / "a.png")
    with pytest.raises(BadInputError, match="no usable training image"):
        load_pairs(small, 4, min_lr=24)


def test_lr_made_once_per_image_and_crops_align(rng: np.random.Generator, tmp_path: Path) -> None:
    img = _photo(rng, 130, 150)  # not a multiple of 4: mod-cropped
    Image.fromarray(img).save(tmp_path / "a.png")
    (pair,) = load_pairs(tmp_path, 4, min_lr=8)
    assert pair.hr.shape == (128, 148, 3)
    np.testing.assert_array_equal(pair.lr, downscale(img, 4))
    sampler = PatchSampler([pair], scale=4, hr_crop=64, seed=1)
    draws = sampler.draw(6)
    draws[:, 3] = 0  # no augmentation: compare with an independent downscale of the HR crop
    lr, hr = sampler.build(draws)
    assert lr.shape == (6, 3, 16, 16) and hr.shape == (6, 3, 64, 64) and lr.dtype == np.float32
    for i in range(6):
        hr_u8 = np.rint(hr[i].transpose(1, 2, 0) * 255).astype(np.uint8)
        own = imresize(hr_u8, scale=0.25).astype(int)
        lr_u8 = np.rint(lr[i].transpose(1, 2, 0) * 255).astype(int)
        # the bicubic kernel reaches 2 LR pixels past a crop border; inside, LR is the crop's own downscale
        assert np.abs(own[2:-2, 2:-2] - lr_u8[2:-2, 2:-2]).max() <= 1


def test_augment_gives_eight_distinct_variants_applied_alike() -> None:
    base = np.arange(4 * 4 * 3).reshape(4, 4, 3)
    variants = {augment(base, c).tobytes() for c in range(8)}
    assert len(variants) == 8
    hr = np.repeat(np.repeat(base, 2, axis=0), 2, axis=1)  # a x2 "HR" version of base
    for c in range(8):
        a_hr, a_lr = augment(hr, c), augment(base, c)
        np.testing.assert_array_equal(a_hr[::2, ::2], a_lr)


def test_sampler_is_deterministic_and_ranks_slice_the_global_batch(rng: np.random.Generator, tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(_photo(rng, 60 + 8 * i, 70)).save(tmp_path / f"{i}.png")
    pairs = load_pairs(tmp_path, 2, min_lr=8)
    single = PatchSampler(pairs, 2, 16, seed=5)
    ranks = [PatchSampler(pairs, 2, 16, seed=5) for _ in range(2)]
    for _ in range(3):
        lr_all, hr_all = single.next_batch(6)
        parts = [r.next_batch(3, rank=k, world=2) for k, r in enumerate(ranks)]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), lr_all)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), hr_all)
    state = single.state()
    a = single.next_batch(4)
    single.set_state(state)
    b = single.next_batch(4)
    np.testing.assert_array_equal(a[0], b[0])


def _paired_folder(root: Path, rng: np.random.Generator, lr_hw: tuple[int, int] = (20, 24)) -> Path:
    """hr/a.png with an LR twin that no downscale of it gives (a white 1-px line burnt in at LR), hr/b.png likewise."""
    for sub in ("hr", "lr"):
        (root / sub).mkdir(parents=True)
    for name in ("a.png", "b.png"):
        hr = _photo(rng, 4 * 20, 4 * 24)
        lr = downscale(hr, 4).copy()
        lr[5, :] = 255  # sharp at LR: the camera's OSD line
        Image.fromarray(hr).save(root / "hr" / name)
        Image.fromarray(lr[: lr_hw[0], : lr_hw[1]]).save(root / "lr" / name)
    return root


def test_paired_folder_gives_its_own_lr_and_crops_align(rng: np.random.Generator, tmp_path: Path) -> None:
    """``--data DIR`` with DIR/hr and DIR/lr: each LR is the given file (not a downscale of HR), beside plain
    folders whose LR is made; crops of a paired image are aligned slices of both files."""
    plain = tmp_path / "plain"
    plain.mkdir()
    Image.fromarray(_photo(rng, 64, 64)).save(plain / "p.png")
    paired = _paired_folder(tmp_path / "pairs", rng)
    pairs = load_pairs([plain, paired], 4, min_lr=8)
    by_name = {p.name: p for p in pairs}
    assert sorted(by_name) == ["a.png", "b.png", "p.png"]
    assert not by_name["p.png"].lr_given and by_name["a.png"].lr_given
    a = by_name["a.png"]
    given = np.asarray(Image.open(paired / "lr" / "a.png").convert("RGB"))
    np.testing.assert_array_equal(a.lr, given)
    assert (a.lr[5] == 255).all() and not (downscale(a.hr, 4)[5] == 255).all()
    sampler = PatchSampler([a], scale=4, hr_crop=32, seed=0)
    draws = sampler.draw(4)
    draws[:, 3] = 0
    lr, hr = sampler.build(draws)
    for (_, y, x, _), crop_lr, crop_hr in zip(draws, lr, hr, strict=True):
        np.testing.assert_array_equal(np.rint(crop_lr.transpose(1, 2, 0) * 255), a.lr[y : y + 8, x : x + 8])
        hr_slice = a.hr[4 * y : 4 * y + 32, 4 * x : 4 * x + 32]
        np.testing.assert_array_equal(np.rint(crop_hr.transpose(1, 2, 0) * 255), hr_slice)


def test_paired_folder_problems_are_one_line_each(rng: np.random.Generator, tmp_path: Path) -> None:
    wrong = _paired_folder(tmp_path / "wrong", rng, lr_hw=(19, 24))
    with pytest.raises(BadInputError, match=r"a.png is 24x19, but its ground truth a.png is 96x80: not x4 of it"):
        load_pairs(wrong, 4, min_lr=8)
    missing = _paired_folder(tmp_path / "missing", rng)
    (missing / "lr" / "b.png").unlink()
    with pytest.raises(BadInputError, match=r"1 ground-truth image\(s\) have no input in .*lr: b.png"):
        load_pairs(missing, 4, min_lr=8)
    from edgesr.errors import UsageError
    from edgesr.train.degrade_real import RealDegradation, degrade_pairs

    pairs = load_pairs(_paired_folder(tmp_path / "ok", rng), 4, min_lr=8)
    with pytest.raises(UsageError, match="--degradation real makes every LR image from its HR image"):
        PatchSampler(pairs, scale=4, hr_crop=32, seed=0, degradation=RealDegradation())
    with pytest.raises(UsageError, match="--degradation real makes every LR image from its HR image"):
        degrade_pairs(pairs, 4, RealDegradation(), seed=0)  # validation / eval: refused the same way

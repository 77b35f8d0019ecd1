"""Camera-like content for INT8 calibration and the accuracy gate (``edgesr.synthetic``, docs/overlays.md).

- ``calibration_mix``: the calibration file list with synthetic frames (OSD text and logos over the calibration
  photos themselves) interleaved at ``MIX_SHARE`` of the crops, written once
  as PNGs under the edgesr cache (so the calibration cache key covers their contents);
- ``check_pairs``: (LR, HR) check pairs of the classes ``overlay_text`` and ``synthetic_graphics``,
  the overlay drawn at LR size (what the camera sends the engine) and nearest-upscaled onto the HR photo.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from edgesr import synthetic
from edgesr.artifact import sha256_file
from edgesr.errors import UsageError
from edgesr.imageops import downscale, save_image
from edgesr.pairs import ImagePair
from edgesr.samples import cache_dir

MIXES = ("camera", "none")  # --calib-mix
MIX_SHARE = 0.25  # share of the calibration crops that are synthetic camera frames (measured: docs/overlays.md)
# Calibration frames are overlay text only. Colour bars and test patterns drive the shipped edge_s's deep FP32
# activations to 10-30x their range on photos (body_tail input: 469 vs 15); ranges that cover them leave
# photos and text a few INT8 steps (docs/overlays.md). They stay in the check set as their own class.
FORMAT = 2  # bump when the generator's output changes: new cache folders
CHECK_FRAMES = 4  # per synthetic class in the gate's check set
CHECK_LR = ((120, 160), (180, 320))  # LR sizes of the synthetic check frames (alternating)


def check_mix(mix: str) -> None:
    if mix not in MIXES:
        raise UsageError(f"--calib-mix must be one of {', '.join(MIXES)}, got {mix!r}")


def synthetic_count(images: int, mix: str) -> int:
    """Synthetic crops among ``images``: a quarter, rounded down (none under 4 crops)."""
    return 0 if mix == "none" else int(images * MIX_SHARE)


def _folder(tag: str, backgrounds: list[Path], *params: object) -> Path:
    h = hashlib.sha256(f"{FORMAT}|{params}|".encode())
    for f in backgrounds:
        h.update(sha256_file(f).encode())
    h.update(str([s.name for s in synthetic.fonts()]).encode())
    return cache_dir() / "synthetic" / f"{tag}-{h.hexdigest()[:16]}"


def synthetic_files(backgrounds: list[Path], shape: tuple[int, int], count: int, seed: int) -> list[Path]:
    """``count`` synthetic frames of ``shape`` over ``backgrounds`` as PNG files (made once, then reused)."""
    folder = _folder("calib", backgrounds, shape, count, seed)
    names = [folder / f"{i:02d}.png" for i in range(count)]
    if all(n.is_file() for n in names):
        return names
    from edgesr.export.calib_photos import usable_images

    photos = usable_images(backgrounds)  # an unreadable calibration image is skipped and named, as train does
    frames = synthetic.frames(photos, shape, count, seed, graphics_too=False)  # graphics: see MIX_SHARE's note
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    for frame, name in zip(frames, names, strict=True):
        save_image(tmp / name.name, frame.image)
    try:
        os.replace(tmp, folder)
    except OSError:  # made meanwhile by another process: theirs is identical
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return names


def calibration_mix(photos: list[Path], images: int, shape: tuple[int, int], seed: int, mix: str) -> list[Path]:
    """One file per calibration crop (``images`` of them): the photos, cycled, with every k-th slot a
    synthetic frame (k = 1 / ``MIX_SHARE``), so any prefix (the sensitivity search's crops) mixes both."""
    check_mix(mix)
    n_synth = synthetic_count(images, mix)
    if n_synth == 0:
        return photos[:images]
    synth = synthetic_files(photos[: max(1, images - n_synth)], shape, n_synth, seed)
    period = max(2, round(1 / MIX_SHARE))
    out: list[Path] = []
    p = s = 0
    for i in range(images):
        if i % period == period - 1 and s < n_synth or p >= images - n_synth:
            out.append(synth[s % n_synth])
            s += 1
        else:
            out.append(photos[p % len(photos)])
            p += 1
    return out


def check_pairs(
    photos: list[tuple[str, np.ndarray]],
    scale: int,
    seed: int = 1,
    max_lr: tuple[int, int] | None = None,
    min_lr: tuple[int, int] | None = None,
) -> list[tuple[ImagePair, str]]:
    """``CHECK_FRAMES`` pairs per synthetic class: overlays on crops of the (HR) check photos, graphics.
    Their LR sizes are ``CHECK_LR``, clamped into [``min_lr``, ``max_lr``] (an engine's shapes)."""
    sources = synthetic.fonts()
    rng = np.random.default_rng(seed)
    out: list[tuple[ImagePair, str]] = []
    for i in range(2 * CHECK_FRAMES):
        h, w = _clamp(CHECK_LR[i % len(CHECK_LR)], max_lr, min_lr)
        if i < CHECK_FRAMES:
            name, photo = photos[i % len(photos)]
            hr = synthetic.photo_crop(photo, h * scale, w * scale, rng)
            lr = downscale(hr, scale)
            layer = synthetic.overlay_layer(h, w, rng, sources)
            hr, lr = synthetic.composite(hr, synthetic.upscale_layer(layer, scale)), synthetic.composite(lr, layer)
            out.append((ImagePair(f"overlay_{i}_{Path(name).stem}_{h}x{w}", hr, lr, False), "overlay_text"))
        else:
            kind = synthetic.GRAPHICS[i % len(synthetic.GRAPHICS)]
            lr = synthetic.graphics(h, w, kind, rng, sources)
            name = f"graphics_{i - CHECK_FRAMES}_{kind}_{h}x{w}"
            out.append((ImagePair(name, synthetic.upscale_layer(lr, scale), lr, False), "synthetic_graphics"))
    return out


def _clamp(hw: tuple[int, int], max_lr: tuple[int, int] | None, min_lr: tuple[int, int] | None) -> tuple[int, int]:
    h, w = hw
    if max_lr is not None:
        h, w = min(h, max_lr[0]), min(w, max_lr[1])
    if min_lr is not None:
        h, w = max(h, min_lr[0]), max(w, min_lr[1])
    return h, w

"""Real images for the checks at export and build time (parity, accuracy gate).

An HR photo becomes an (LR, HR) pair the way every SR table makes one: mod-crop and
MATLAB bicubic downscale (``edgesr.imageops.downscale``). When an engine only takes
inputs up to some size, the HR image is centre-cropped first so that its LR fits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesr.errors import BadInputError
from edgesr.imageops import downscale, list_images, read_image


@dataclass(frozen=True)
class CheckImage:
    name: str
    hr: np.ndarray  # uint8 HxWx3, mod-cropped, the ground truth for ``lr``
    lr: np.ndarray  # uint8 hxwx3 = downscale(hr, scale)
    gray: bool  # the file is single-channel (scored on its gray values)


def centre_crop(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Centre crop to at most h x w."""
    ih, iw = img.shape[:2]
    h, w = min(h, ih), min(w, iw)
    top, left = (ih - h) // 2, (iw - w) // 2
    return img[top : top + h, left : left + w]


def load_check_images(
    folder: str | os.PathLike[str],
    scale: int,
    *,
    max_lr: tuple[int, int] | None = None,
    min_lr: tuple[int, int] | None = None,
    exclude: frozenset[Path] = frozenset(),
) -> tuple[list[CheckImage], list[str]]:
    """(LR, HR) pairs from every image under ``folder``; also the names skipped as too small.

    ``max_lr``: HR is centre-cropped so the LR is at most this (an engine's max shape).
    ``min_lr``: images whose LR would be smaller are skipped (an engine's min shape).
    ``exclude``: resolved paths that must not be used (calibration images).
    """
    files = [f for f in list_images(folder) if f.resolve() not in exclude]
    if not files:
        raise BadInputError(f"every image in {folder} was used for calibration: pass other --check-data")
    pairs: list[CheckImage] = []
    skipped: list[str] = []
    for f in files:
        hr, gray = read_image(f)
        if max_lr is not None:
            hr = centre_crop(hr, max_lr[0] * scale, max_lr[1] * scale)
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        if min(h, w) < 1 or (min_lr is not None and (h < min_lr[0] or w < min_lr[1])):
            skipped.append(f.name)
            continue
        lr = downscale(hr, scale)
        pairs.append(CheckImage(f.name, hr[: h * scale, : w * scale], lr, gray))
    if not pairs:
        raise BadInputError(
            f"no image in {folder} is large enough for the engine's min shape {min_lr[0]}x{min_lr[1]} at x{scale}"
            if min_lr
            else f"no usable image in {folder}"
        )
    return pairs, skipped

"""Evaluation pairs beyond the bicubic-downscale recipe (``edgesr.pairs``): pairs given as two folders
(inputs and ground truth matched by file name), and the stated default degradation for scale-1
(restoration) models: seeded Gaussian noise on the HR image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgesr.errors import BadInputError
from edgesr.imageops import list_images, mod_crop, read_image
from edgesr.pairs import ImagePair

NOISE_SIGMA = 10.0  # on the 0-255 scale
NOISE_SEED = 0


def noise_text(sigma: float = NOISE_SIGMA) -> str:
    return f"HR + Gaussian noise sigma {sigma:g}/255 (seed {NOISE_SEED}), clipped and rounded"


def noisy_pairs(folder: str | os.PathLike[str], sigma: float = NOISE_SIGMA) -> list[ImagePair]:
    """(noisy HR, HR) pairs: the scale-1 input of every image under ``folder``."""
    rng = np.random.default_rng(NOISE_SEED)
    pairs = []
    for path in list_images(folder):
        hr, gray = read_image(path)
        noise = rng.normal(0.0, sigma, hr.shape[:2] + ((1,) if gray else (3,)))
        lr = np.clip(np.rint(hr.astype(np.float64) + noise), 0, 255).astype(np.uint8)
        pairs.append(ImagePair(path.name, hr, lr, gray))
    return pairs


def folder_pairs(hr_folder: str | os.PathLike[str], lr_folder: str | os.PathLike[str], scale: int) -> list[ImagePair]:
    """(input, ground truth) pairs matched by file stem; each ground truth must be ``scale`` x its input
    (after cropping the ground truth to a multiple of the scale)."""
    inputs = {p.stem: p for p in list_images(lr_folder)}
    pairs = []
    missing = []
    for path in list_images(hr_folder):
        src = inputs.get(path.stem)
        if src is None:
            missing.append(path.name)
            continue
        hr, gray = read_image(path)
        lr, _ = read_image(src)
        hr = mod_crop(hr, scale)
        if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
            raise BadInputError(
                f"{src.name} is {lr.shape[1]}x{lr.shape[0]}, but its ground truth {path.name} is "
                f"{hr.shape[1]}x{hr.shape[0]}: not x{scale} of it"
            )
        pairs.append(ImagePair(path.name, np.ascontiguousarray(hr), lr, gray, lr_given=True))
    if not pairs:
        raise BadInputError(f"no image in {hr_folder} has an input of the same name in {lr_folder}")
    if missing:
        raise BadInputError(
            f"{len(missing)} ground-truth image(s) have no input in {Path(lr_folder)}: {', '.join(missing[:5])}"
        )
    return pairs

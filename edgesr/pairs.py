"""The (LR, HR) pair recipe of every SR table, once: the HR image mod-cropped to the scale, and its LR twin
made from the whole image by MATLAB bicubic downscaling (``imageops.downscale``). Training and validation
data (``edgesr.train.data``) and the export-time checks (``edgesr.export.check_images``) both use it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesr.imageops import downscale, mod_crop


@dataclass(frozen=True)
class ImagePair:
    name: str
    hr: np.ndarray  # uint8 HxWx3, mod-cropped to the scale: the ground truth for ``lr``
    lr: np.ndarray  # uint8 (H/s)x(W/s)x3 = downscale(hr, scale), or the LR file of a paired folder
    gray: bool  # the file itself is single-channel (scored on its own gray values)
    lr_given: bool = False  # lr was read from a paired folder's lr/ (not made from hr)


def make_pair(name: str, image: np.ndarray, scale: int, gray: bool = False) -> ImagePair:
    hr = mod_crop(image, scale)
    return ImagePair(name, np.ascontiguousarray(hr), downscale(hr, scale), gray)


def centre_crop(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Centre crop to at most h x w."""
    ih, iw = img.shape[:2]
    h, w = min(h, ih), min(w, iw)
    top, left = (ih - h) // 2, (iw - w) // 2
    return img[top : top + h, left : left + w]

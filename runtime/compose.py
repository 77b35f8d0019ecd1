"""Demo composition: bicubic upscale | SR output, side by side (``--side-by-side``)."""

from __future__ import annotations

import numpy as np

from edgesr.imageops import upscale_bicubic


def side_by_side(lr: np.ndarray, sr: np.ndarray, scale: int) -> np.ndarray:
    """uint8 RGB: left half the bicubic upscale of ``lr`` (MATLAB bicubic), right half ``sr``."""
    bicubic = upscale_bicubic(lr, scale)[: sr.shape[0], : sr.shape[1]]
    return np.ascontiguousarray(np.concatenate([bicubic, sr], axis=1))

"""PSNR and SSIM, numpy only.

``sr_psnr_ssim`` follows the convention of the SRGAN paper and every SR table: Y
channel (BT.601), ``scale`` border pixels shaved. SSIM is Wang et al. 2004: 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 255, 'valid' filtering
as MATLAB's ``ssim_index``.
"""

from __future__ import annotations

import math

import numpy as np

from edgesr.imageops import rgb_to_y


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB between two arrays of the same shape (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"PSNR of different shapes {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    n = len(k)
    h, w = img.shape
    rows = sum(k[i] * img[i : h - n + 1 + i, :] for i in range(n))
    return sum(k[i] * rows[:, i : w - n + 1 + i] for i in range(n))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two single-channel images (Wang et al. 2004)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"SSIM needs two 2-D arrays of one shape, got {a.shape} and {b.shape}")
    x, y = a.astype(np.float64), b.astype(np.float64)
    k = _gaussian()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _filter_valid(x, k), _filter_valid(y, k)
    sxx = _filter_valid(x * x, k) - mx * mx
    syy = _filter_valid(y * y, k) - my * my
    sxy = _filter_valid(x * y, k) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def shave(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def min_eval_lr(scale: int) -> int:
    """Smallest LR side that can be scored: after shaving ``scale`` HR pixels per border, SSIM's 11x11
    window must still fit (smaller images would score NaN)."""
    return -(-(11 + 2 * scale) // scale)


def sr_psnr_ssim(sr: np.ndarray, hr: np.ndarray, scale: int, gray: bool = False) -> tuple[float, float]:
    """Y-channel PSNR and SSIM of an SR result against its (mod-cropped) HR image.

    ``gray``: the HR file is single-channel (``imageops.read_image`` says so); it is then
    compared on its own gray values, as published tables do (see ``rgb_to_y``).
    """
    if sr.shape != hr.shape:
        raise ValueError(f"SR {sr.shape} and HR {hr.shape} differ in shape")
    ys = shave(rgb_to_y(sr, full_range=gray), scale)
    yh = shave(rgb_to_y(hr, full_range=gray), scale)
    return psnr(ys, yh), ssim(ys, yh)


def rgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 RGB images on [0, 255] (engine vs FP32 reference checks)."""
    return psnr(a, b, 255.0)

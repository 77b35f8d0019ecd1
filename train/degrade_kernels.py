"""Blur kernels of Real-ESRGAN's degradation model (Wang et al., 2021, "Real-ESRGAN: Training Real-World Blind
Super-Resolution with Pure Synthetic Data", Sec. 3.1), in numpy.

- Gaussian (isotropic, or anisotropic with a rotation): ``exp(-1/2 x^T S^-1 x)``.
- generalised Gaussian: ``exp(-1/2 (x^T S^-1 x)^beta)`` (flatter or heavier-tailed than a Gaussian).
- plateau: ``1 / (1 + (x^T S^-1 x)^beta)`` (a flat top, long tails).
- sinc (circular low-pass, ideal filter with cut-off ``omega_c``): ringing and overshoot artefacts.

Every kernel is normalised to sum 1. The draw (``random_kernel``) follows the paper's released training options:
kernel side an odd number in [7, 21]; the family picked with ``kernel_prob``; sigma, beta and the rotation uniform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

KERNEL_FAMILIES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_SIZES = tuple(range(7, 22, 2))  # odd sides 7..21
MAX_KERNEL = 21


@cache
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    xx, yy = np.meshgrid(ax, ax)
    return xx, yy


def _quad_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """x^T S^-1 x on the kernel grid, S = R diag(sx^2, sy^2) R^T."""
    c, s = math.cos(theta), math.sin(theta)
    a, b = 1.0 / sigma_x**2, 1.0 / sigma_y**2  # S^-1 = R diag(a, b) R^T
    i00, i01, i11 = a * c * c + b * s * s, (a - b) * c * s, a * s * s + b * c * c
    xx, yy = _grid(size)
    return i00 * xx * xx + 2.0 * i01 * xx * yy + i11 * yy * yy


def _normalise(k: np.ndarray) -> np.ndarray:
    return (k / k.sum()).astype(np.float32)


def gaussian(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    return _normalise(np.exp(-0.5 * _quad_form(size, sigma_x, sigma_y, theta)))


def generalized_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    return _normalise(np.exp(-0.5 * np.power(_quad_form(size, sigma_x, sigma_y, theta), beta)))


def plateau(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    return _normalise(1.0 / (np.power(_quad_form(size, sigma_x, sigma_y, theta), beta) + 1.0))


def sinc(size: int, omega_c: float) -> np.ndarray:
    """The circular low-pass kernel ``omega_c J1(omega_c r) / (2 pi r)`` (centre: ``omega_c^2 / 4 pi``)."""
    from edgesr.errors import require

    j1 = require("scipy.special", extra="train", why="the sinc kernels of --degradation real need its Bessel J1").j1

    xx, yy = _grid(size)
    r = np.sqrt(xx * xx + yy * yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * j1(omega_c * r) / (2 * np.pi * r)
    c = (size - 1) // 2
    k[c, c] = omega_c**2 / (4 * np.pi)
    return _normalise(k)


def _beta(rng: np.random.Generator, beta_range: Sequence[float]) -> float:
    """As released: half the draws below 1 (heavier tails), half above (flatter)."""
    lo, hi = beta_range
    return float(rng.uniform(lo, 1.0)) if rng.uniform() < 0.5 else float(rng.uniform(1.0, hi))


def random_kernel(
    rng: np.random.Generator,
    kernel_prob: Sequence[float],
    sinc_prob: float,
    sigma: Sequence[float],
    betag: Sequence[float],
    betap: Sequence[float],
) -> np.ndarray:
    """One blur kernel of a degradation stage: sinc with ``sinc_prob``, else a family drawn with ``kernel_prob``."""
    size = int(rng.choice(KERNEL_SIZES))
    if rng.uniform() < sinc_prob:
        lo = math.pi / 3 if size < 13 else math.pi / 5
        return sinc(size, float(rng.uniform(lo, math.pi)))
    p = np.asarray(kernel_prob, dtype=np.float64)
    family = KERNEL_FAMILIES[int(rng.choice(len(KERNEL_FAMILIES), p=p / p.sum()))]
    sx = float(rng.uniform(sigma[0], sigma[1]))
    if family.endswith("_iso") or family == "iso":
        sy, theta = sx, 0.0
    else:
        sy, theta = float(rng.uniform(sigma[0], sigma[1])), float(rng.uniform(-math.pi, math.pi))
    if family.startswith("generalized"):
        return generalized_gaussian(size, sx, sy, theta, _beta(rng, betag))
    if family.startswith("plateau"):
        return plateau(size, sx, sy, theta, _beta(rng, betap))
    return gaussian(size, sx, sy, theta)


def random_final_sinc(rng: np.random.Generator, prob: float) -> np.ndarray | None:
    """The final sinc filter (``omega_c`` in [pi/3, pi]) with probability ``prob``; None: no filter."""
    if rng.uniform() >= prob:
        return None
    size = int(rng.choice(KERNEL_SIZES))
    return sinc(size, float(rng.uniform(math.pi / 3, math.pi)))

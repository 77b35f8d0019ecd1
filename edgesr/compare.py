"""The one comparison of a runner's output against a reference runner's, per image (in the spirit of
Polygraphy's ``comparator``): used by the export parity proof, the accuracy gate, the bench and the
stream's live checks.

- NaN / Inf check on the raw output (``nonfinite``, ``require_finite``): such an output cannot be used;
- PSNR against the reference on RGB [0, 255] images after ``imageops.from_nchw`` (the deployed
  post-processing), the number every gate and check compares with its threshold;
- with a ground-truth HR image: Y-PSNR of output and reference against it (SR-table convention,
  ``metrics.sr_psnr_ssim``) and the drop the output causes;
- ``raw_difference``: max |diff| and PSNR on the raw float outputs (data range 1), the export parity
  proof's finer measure (before rounding to 8 bits hides small differences).

numpy only (the runtime uses it on a Jetson).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesr.errors import AccuracyGateError
from edgesr.imageops import from_nchw
from edgesr.metrics import psnr, rgb_psnr, sr_psnr_ssim


@dataclass(frozen=True)
class Comparison:
    psnr_vs_reference: float  # RGB [0, 255]; inf when identical
    y_psnr_reference: float | None = None  # vs ground truth, when given
    y_psnr_output: float | None = None

    @property
    def y_drop(self) -> float | None:
        if self.y_psnr_reference is None or self.y_psnr_output is None:
            return None
        return self.y_psnr_reference - self.y_psnr_output


def nonfinite(output: np.ndarray) -> int:
    """How many NaN / Inf values a raw output holds."""
    return int(np.size(output) - np.count_nonzero(np.isfinite(output)))


def require_finite(output: np.ndarray, what: str, name: str) -> None:
    """``AccuracyGateError`` when ``what``'s output on ``name`` holds NaN or Inf."""
    bad = nonfinite(output)
    if bad:
        raise AccuracyGateError(f"{what} gives {bad} NaN/Inf values on {name}: it cannot be used")


def as_image(output: np.ndarray) -> np.ndarray:
    """A raw NCHW float output (batch 1) as the RGB uint8 image it deploys as; an image stays as it is."""
    return from_nchw(output)[0] if output.ndim == 4 else output


def compare(
    output: np.ndarray,
    reference: np.ndarray,
    truth: np.ndarray | None = None,
    scale: int = 1,
    gray: bool = False,
    y_psnr_reference: float | None = None,
) -> Comparison:
    """One image: ``output`` and ``reference`` are raw NCHW outputs (batch 1) or RGB uint8 images; ``truth``
    the ground-truth HR image (``gray``: a single-channel file, scored on its gray values).
    ``y_psnr_reference``: the reference's Y-PSNR when already known (one reference, several outputs)."""
    out, ref = as_image(output), as_image(reference)
    if truth is None:
        return Comparison(rgb_psnr(out, ref))
    if y_psnr_reference is None:
        y_psnr_reference = sr_psnr_ssim(ref, truth, scale, gray)[0]
    return Comparison(rgb_psnr(out, ref), y_psnr_reference, sr_psnr_ssim(out, truth, scale, gray)[0])


def raw_difference(output: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max |diff|, PSNR at data range 1) of two raw float outputs of one shape."""
    diff = float(np.max(np.abs(output.astype(np.float64) - reference))) if output.size else 0.0
    return diff, psnr(output, reference, data_range=1.0)

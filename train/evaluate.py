"""Standard SR evaluation: Y-PSNR / SSIM per image and mean (``edgesr.metrics``).

HR images are mod-cropped to the scale, LR made with ``imageops.downscale`` (MATLAB
bicubic), the model (or the bicubic baseline) upscales, and ``sr_psnr_ssim`` scores the
Y channel with ``scale`` border pixels shaved; grayscale files are scored on their gray
values, as published tables do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgesr.imageops import save_image, upscale_bicubic
from edgesr.metrics import sr_psnr_ssim
from edgesr.pairs import ImagePair


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr: float
    ssim: float
    size: tuple[int, int]  # HR (h, w) after mod-crop


@dataclass(frozen=True)
class EvalResult:
    method: str
    scale: int
    data: str
    images: list[ImageScore] = field(default_factory=list)

    @property
    def mean_psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.images]))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.images]))

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "scale": self.scale,
            "data": self.data,
            "mean_psnr": round(self.mean_psnr, 4),
            "mean_ssim": round(self.mean_ssim, 5),
            "images": [{**asdict(s), "psnr": round(s.psnr, 4), "ssim": round(s.ssim, 5)} for s in self.images],
        }


Upscaler = Callable[[np.ndarray], np.ndarray]


def evaluate_pairs(
    pairs: Iterable[ImagePair],
    upscale: Upscaler,
    scale: int,
    method: str,
    data: str = "",
    save_dir: str | os.PathLike[str] | None = None,
    with_ssim: bool = True,
) -> EvalResult:
    scores = []
    for pair in pairs:
        sr = upscale(pair.lr)
        if save_dir is not None:
            save_image(Path(save_dir) / f"{Path(pair.name).stem}_x{scale}_{method}.png", sr)
        if with_ssim:
            p, s = sr_psnr_ssim(sr, pair.hr, scale, gray=pair.gray)
        else:
            from edgesr.imageops import rgb_to_y
            from edgesr.metrics import psnr, shave

            p = psnr(shave(rgb_to_y(sr, pair.gray), scale), shave(rgb_to_y(pair.hr, pair.gray), scale))
            s = float("nan")
        scores.append(ImageScore(pair.name, p, s, (pair.hr.shape[0], pair.hr.shape[1])))
    return EvalResult(method, scale, data, scores)


def bicubic_upscaler(scale: int) -> Upscaler:
    return lambda lr: upscale_bicubic(lr, scale)

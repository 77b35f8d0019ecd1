"""Accuracy gate: the built artifact against the FP32 ONNX, on images not used for calibration.

For every check image (HR photo -> ``imageops.downscale`` -> LR, centre-cropped so the LR
fits the engine's shape profile) both models upscale the LR; the outputs are turned into
RGB [0, 255] images with ``imageops.from_nchw`` (the deployed post-processing) and compared:
- PSNR of the variant against FP32 (per image, mean and worst), the gated number;
- Y-PSNR of each against the ground-truth HR (SR-table convention, ``edgesr.metrics``)
  and the drop the variant causes.
Any NaN or Inf in the variant's output fails the gate, ``--force`` or not. The runner given
as ``variant`` must be the artifact that ships (the engine file itself, not its source).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from edgesr.export.check_images import CheckImage
from edgesr.export.parity import fmt_db, json_db

from edgesr.errors import AccuracyGateError
from edgesr.imageops import from_nchw, to_nchw
from edgesr.metrics import rgb_psnr, sr_psnr_ssim

DEFAULT_MIN_PSNR = {"fp32": 50.0, "fp16": 50.0, "int8": 38.0}


@dataclass(frozen=True)
class ImageResult:
    name: str
    lr_hw: tuple[int, int]
    psnr_vs_fp32: float
    y_psnr_fp32: float
    y_psnr_variant: float

    @property
    def y_drop(self) -> float:
        return self.y_psnr_fp32 - self.y_psnr_variant


@dataclass
class GateReport:
    precision: str
    backend: str
    artifact: str
    reference: str
    check_data: str
    min_psnr_db: float
    images: list[ImageResult]
    skipped: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def mean_psnr(self) -> float:
        """Mean per-image PSNR over the images that differ at all (inf when none does)."""
        finite = [r.psnr_vs_fp32 for r in self.images if not math.isinf(r.psnr_vs_fp32)]
        return float(np.mean(finite)) if finite else math.inf

    @property
    def worst(self) -> ImageResult:
        return min(self.images, key=lambda r: r.psnr_vs_fp32)

    @property
    def mean_y_drop(self) -> float:
        return float(np.mean([r.y_drop for r in self.images]))

    @property
    def passed(self) -> bool:
        return self.worst.psnr_vs_fp32 >= self.min_psnr_db

    def summary(self) -> str:
        w = self.worst
        return (
            f"{self.precision} vs FP32: mean {fmt_db(self.mean_psnr)}, worst {fmt_db(w.psnr_vs_fp32)} ({w.name}); "
            f"Y-PSNR drop vs ground truth {self.mean_y_drop:+.3f} dB over {len(self.images)} images"
        )

    def to_dict(self) -> dict[str, Any]:
        images = []
        for r in self.images:
            d = asdict(r)
            d["psnr_vs_fp32"] = json_db(r.psnr_vs_fp32)
            d["y_psnr_fp32"], d["y_psnr_variant"] = round(r.y_psnr_fp32, 3), round(r.y_psnr_variant, 3)
            d["y_drop"] = round(r.y_drop, 4)
            images.append(d)
        return {
            "precision": self.precision,
            "backend": self.backend,
            "artifact": self.artifact,
            "reference": self.reference,
            "check_data": self.check_data,
            "min_psnr_db": self.min_psnr_db,
            "passed": self.passed,
            "forced": self.forced,
            "mean_psnr_db": json_db(self.mean_psnr),
            "worst_psnr_db": json_db(self.worst.psnr_vs_fp32),
            "worst_image": self.worst.name,
            "mean_y_psnr_fp32": round(float(np.mean([r.y_psnr_fp32 for r in self.images])), 3),
            "mean_y_psnr_variant": round(float(np.mean([r.y_psnr_variant for r in self.images])), 3),
            "mean_y_drop_db": round(self.mean_y_drop, 4),
            "images": images,
            "skipped_too_small": self.skipped,
        }


def measure(
    variant: Any,
    reference: Any,
    pairs: list[CheckImage],
    scale: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[ImageResult]:
    """Run both runners on every pair; raise ``AccuracyGateError`` on NaN/Inf output."""
    results = []
    for i, p in enumerate(pairs):
        x = to_nchw(p.lr)
        out = variant.infer(x)
        if not np.all(np.isfinite(out)):
            bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
            raise AccuracyGateError(
                f"{variant.precision} artifact gives {bad} NaN/Inf values on {p.name}: it cannot be used"
            )
        sr_variant = from_nchw(out)[0]
        sr_fp32 = from_nchw(reference.infer(x))[0]
        if sr_variant.shape != p.hr.shape:
            raise AccuracyGateError(f"output {sr_variant.shape} for {p.name} is not x{scale} of its input")
        results.append(
            ImageResult(
                p.name,
                (p.lr.shape[0], p.lr.shape[1]),
                rgb_psnr(sr_variant, sr_fp32),
                sr_psnr_ssim(sr_fp32, p.hr, scale, p.gray)[0],
                sr_psnr_ssim(sr_variant, p.hr, scale, p.gray)[0],
            )
        )
        if progress:
            progress(i + 1, len(pairs))
    return results

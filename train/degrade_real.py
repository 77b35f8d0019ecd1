"""``--degradation real``: Real-ESRGAN's second-order degradation model, made on the fly from HR crops.

Source of the model and of every default below: Wang, Xie, Dong, Shan, "Real-ESRGAN: Training Real-World Blind
Super-Resolution with Pure Synthetic Data" (ICCVW 2021), Sec. 3, and the options it released for training
RealESRNet/RealESRGAN x4 (``train_realesrnet_x4plus.yml``). BSRGAN (Zhang, Liang, Van Gool, Timofte, "Designing a
Practical Degradation Model for Deep Blind Image Super-Resolution", ICCV 2021) uses the same families (Gaussian blur,
resize with several interpolations, Gaussian noise in colour and grey, JPEG quality 30..95). One addition of ours,
not from the papers: H.264 (x264, one intra frame, yuv420p) at a random CRF, because ``edgesr stream`` reads H.264.

Per HR crop, in this order (each stage draws its own parameters; float32 in [0, 1]):

1. blur with ``kernel1`` (``degrade_kernels.random_kernel``: Gaussian / generalised Gaussian / plateau, iso or aniso,
   or sinc with ``sinc_prob``); 2. resize by a factor (up / down / keep with ``resize_prob``, factor in
   ``resize_range``; area, bilinear or bicubic); 3. Gaussian noise (``gaussian_noise_prob``, sigma in ``noise_range``
   levels of 255) else Poisson noise (``poisson_scale_range``), grey with ``gray_noise_prob``; 4. JPEG (``jpeg_range``).
5. with ``second_blur_prob`` blur with ``kernel2`` (``blur_sigma2``...); 6. resize to (HR / scale) x a factor in
   ``resize_range2``; 7. noise (``*2`` ranges); 8. in random order: [resize to HR / scale, final sinc (with
   ``final_sinc_prob``), JPEG (``jpeg_range2``)] or [JPEG, resize, sinc]; rounded to 8 bits.
9. ours: with ``h264_prob`` the LR crop is encoded as H.264 at a CRF in ``h264_crf_range`` (crops of one batch share
   one frame and one CRF: measured cost ~2 ms a batch, against ~1.7 ms per crop encoded alone).

Also ours: ``clean_prob`` of the crops keep the clean bicubic LR (``PatchSampler``), so a model keeps some of its
clean-input quality. Real-ESRGAN also sharpens the HR target (USM) for its GAN stage; edgesr trains pixel fidelity
and does not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from edgesr.errors import UsageError, require
from edgesr.pairs import ImagePair
from edgesr.train.degrade_kernels import KERNEL_FAMILIES, random_final_sinc, random_kernel

Range = tuple[float, float]


@dataclass(frozen=True)
class RealDegradation:
    """The pipeline's parameters; defaults = Real-ESRGAN's released x4 options (H.264: ours)."""

    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # order: degrade_kernels.KERNEL_FAMILIES
    sinc_prob: float = 0.1
    blur_sigma: Range = (0.2, 3.0)
    betag_range: Range = (0.5, 4.0)
    betap_range: Range = (1.0, 2.0)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: Range = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: Range = (1.0, 30.0)
    poisson_scale_range: Range = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: Range = (30.0, 95.0)
    second_blur_prob: float = 0.8
    kernel_prob2: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob2: float = 0.1
    blur_sigma2: Range = (0.2, 1.5)
    betag_range2: Range = (0.5, 4.0)
    betap_range2: Range = (1.0, 2.0)
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: Range = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: Range = (1.0, 25.0)
    poisson_scale_range2: Range = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: Range = (30.0, 95.0)
    final_sinc_prob: float = 0.8
    h264_prob: float = 0.3  # ours
    h264_crf_range: Range = (18.0, 40.0)  # ours: x264 CRF (0 lossless .. 51)
    clean_prob: float = 0.0  # ours: share of crops given the clean bicubic LR instead (keeps clean-input quality)

    @classmethod
    def from_table(cls, table: dict[str, Any] | None, source: str = "[degradation]") -> RealDegradation:
        """The defaults overridden by a ``[degradation]`` TOML table; one UsageError line for anything wrong."""
        if table is not None and not isinstance(table, dict):
            raise UsageError(f"{source} must be a table of the real pipeline's parameters, got {table!r}")
        table = dict(table or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
        values: dict[str, Any] = {}
        for name, value in table.items():
            default = getattr(cls, name)
            values[name] = _check(f"{source} {name}", name, value, default)
        return cls(**values)

    def to_table(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


_BOUNDS: dict[str, Range] = {  # what a value may be; probabilities are in [0, 1]
    "blur_sigma": (0.01, 20.0), "blur_sigma2": (0.01, 20.0), "betag_range": (0.05, 10.0), "betag_range2": (0.05, 10.0),
    "betap_range": (0.05, 10.0), "betap_range2": (0.05, 10.0), "resize_range": (0.05, 4.0),
    "resize_range2": (0.05, 4.0), "noise_range": (0.0, 255.0), "noise_range2": (0.0, 255.0),
    "poisson_scale_range": (0.0, 20.0), "poisson_scale_range2": (0.0, 20.0), "jpeg_range": (1.0, 100.0),
    "jpeg_range2": (1.0, 100.0), "h264_crf_range": (0.0, 51.0),
}


def _number(where: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise UsageError(f"{where} must be a finite number, got {v!r}")
    return float(v)


def _check(where: str, name: str, value: Any, default: Any) -> Any:
    if isinstance(default, float):  # a probability
        v = _number(where, value)
        if not 0.0 <= v <= 1.0:
            raise UsageError(f"{where} is a probability and must be in [0, 1], got {value!r}")
        return v
    if not isinstance(value, (list, tuple)) or len(value) != len(default):
        raise UsageError(f"{where} must be a list of {len(default)} numbers, got {value!r}")
    vals = tuple(_number(where, v) for v in value)
    if name in _BOUNDS:
        lo, hi = _BOUNDS[name]
        if not (lo <= vals[0] <= vals[1] <= hi):
            raise UsageError(f"{where} must be [low, high] with {lo:g} <= low <= high <= {hi:g}, got {list(value)}")
    elif any(v < 0 for v in vals) or sum(vals) <= 0:  # kernel_prob*, resize_prob*: weights
        what = ", ".join(KERNEL_FAMILIES) if len(vals) == len(KERNEL_FAMILIES) else "up, down, keep"
        raise UsageError(f"{where} must be {len(vals)} non-negative weights ({what}), not all 0, got {value!r}")
    return vals


# -- the pipeline ----------------------------------------------------------------------------------------------
def _cv2() -> Any:
    cv2 = require("cv2", extra="video", why="--degradation real makes its LR images with OpenCV")
    cv2.setNumThreads(1)  # tiny images: threads cost more than they give, and the loader may run beside the model
    return cv2


def _filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return _cv2().filter2D(img, -1, kernel, borderType=4)  # BORDER_REFLECT_101


def _resize(img: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    cv2 = _cv2()
    mode = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(3))]
    return cv2.resize(img, (max(1, w), max(1, h)), interpolation=mode)


def _factor(rng: np.random.Generator, prob: tuple[float, ...], rng_range: Range) -> float:
    p = np.asarray(prob, dtype=np.float64)
    kind = int(rng.choice(3, p=p / p.sum()))
    return float(rng.uniform(1.0, rng_range[1])) if kind == 0 else float(rng.uniform(rng_range[0], 1.0)) \
        if kind == 1 else 1.0


def _noise(img: np.ndarray, rng: np.random.Generator, gauss_p: float, sigma: Range, poisson: Range,
           gray_p: float) -> np.ndarray:
    gray = rng.uniform() < gray_p
    h, w = img.shape[:2]
    if rng.uniform() < gauss_p:
        s = rng.uniform(*sigma) / 255.0
        n = rng.standard_normal((h, w, 1) if gray else (h, w, 3), dtype=np.float32) * np.float32(s)
    else:  # Poisson (shot) noise on the image quantised to 8 bits, scaled
        scale = rng.uniform(*poisson)
        src = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if gray else img
        q8 = np.clip(np.rint(src * 255.0), 0, 255).astype(np.uint8)
        distinct = int(np.count_nonzero(np.bincount(q8.ravel(), minlength=256)))
        levels = 2.0 ** math.ceil(math.log2(max(2, distinct)))
        q = q8.astype(np.float32) / np.float32(255.0)
        n = ((rng.poisson(q * levels) / levels - q) * scale).astype(np.float32)
        if gray:
            n = n[..., None]
    return np.clip(img + n, 0.0, 1.0)


def _jpeg(img: np.ndarray, quality: float) -> np.ndarray:
    cv2 = _cv2()
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / np.float32(255.0)


def degrade(hr: np.ndarray, scale: int, p: RealDegradation, rng: np.random.Generator) -> np.ndarray:
    """uint8 HxWx3 HR (H, W multiples of ``scale``) -> uint8 (H/scale)x(W/scale)x3 LR, stages 1-8."""
    h, w = hr.shape[:2]
    k1 = random_kernel(rng, p.kernel_prob, p.sinc_prob, p.blur_sigma, p.betag_range, p.betap_range)
    k2 = random_kernel(rng, p.kernel_prob2, p.sinc_prob2, p.blur_sigma2, p.betag_range2, p.betap_range2)
    final = random_final_sinc(rng, p.final_sinc_prob)
    img = hr.astype(np.float32) / np.float32(255.0)
    img = _filter(img, k1)  # first order
    f = _factor(rng, p.resize_prob, p.resize_range)
    img = _resize(img, int(h * f), int(w * f), rng)
    img = _noise(img, rng, p.gaussian_noise_prob, p.noise_range, p.poisson_scale_range, p.gray_noise_prob)
    img = _jpeg(img, rng.uniform(*p.jpeg_range))
    if rng.uniform() < p.second_blur_prob:  # second order
        img = _filter(img, k2)
    f = _factor(rng, p.resize_prob2, p.resize_range2)
    img = _resize(img, int(h / scale * f), int(w / scale * f), rng)
    img = _noise(img, rng, p.gaussian_noise_prob2, p.noise_range2, p.poisson_scale_range2, p.gray_noise_prob2)
    quality = rng.uniform(*p.jpeg_range2)
    if rng.uniform() < 0.5:
        img = _resize(img, h // scale, w // scale, rng)
        img = _filter(img, final) if final is not None else img
        img = _jpeg(np.clip(img, 0.0, 1.0), quality)
    else:
        img = _jpeg(img, quality)
        img = _resize(img, h // scale, w // scale, rng)
        img = _filter(img, final) if final is not None else img
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def refuse_given_lr(pairs: list[ImagePair]) -> None:
    """The pipeline makes every LR from its HR: pairs whose LR was given (paired folders) are refused, not replaced."""
    given = [p.name for p in pairs if p.lr_given]
    if given:
        raise UsageError(f"--degradation real makes every LR image from its HR image, so the {len(given)} given "
                         f"LR image(s) of paired folders (e.g. lr/{given[0]}) would go unused: use paired "
                         "folders with --degradation bicubic")


def degrade_pairs(pairs: list[ImagePair], scale: int, p: RealDegradation, seed: int) -> list[ImagePair]:
    """Validation pairs whose LR is one fixed draw of the pipeline per image (seeded by ``seed`` and its index)."""
    refuse_given_lr(pairs)
    return [ImagePair(q.name, q.hr, degrade(q.hr, scale, p, np.random.default_rng([seed, 7, i])), q.gray)
            for i, q in enumerate(pairs)]


def h264_tiles(tiles: list[np.ndarray], crf: float) -> list[np.ndarray]:
    """Encode same-sized uint8 RGB crops as ONE H.264 intra frame (tiled in a grid) and decode them back."""
    from edgesr.degrade import h264

    th, tw = tiles[0].shape[:2]
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    frame = np.zeros((rows * th, cols * tw, 3), dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        frame[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = t
    out = h264(frame, int(round(crf)))
    return [np.ascontiguousarray(out[(i // cols) * th : (i // cols + 1) * th, (i % cols) * tw : (i % cols + 1) * tw])
            for i in range(len(tiles))]

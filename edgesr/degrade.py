"""Fixed, seeded camera-like degradations for evaluation (``edgesr eval --degrade SPEC``), numpy + PIL + PyAV only.

A SPEC names stages with values, comma-separated, for example ``blur=1.0,noise=5,jpeg=60``. The stages always run
in this order, each only when named (``downscale`` always runs):

1. ``blur=SIGMA``: isotropic Gaussian blur of the HR image, sigma in HR pixels, in [0, 10] (optics, focus).
2. downscale: MATLAB bicubic (antialiased) by the model's scale, as in clean SR tables.
3. ``noise=SIGMA``: Gaussian noise on the LR image, independent per channel, sigma in 8-bit levels, in [0, 50]
   (sensor noise).
4. ``jpeg=Q``: JPEG at quality Q in [1, 100] (PIL, 4:2:0 chroma), as a camera or a web upload stores it.
5. ``h264=CRF``: one H.264 intra frame (x264, yuv420p) at CRF in [0, 51], as a camera stream carries it.

``seed=N`` (default 0) fixes the noise: each image's noise comes from (seed, its file name), so every model is
scored on the very same LR images. Unknown keys and out-of-range values raise one ``UsageError`` line.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass

import numpy as np

from edgesr.errors import UsageError
from edgesr.imageops import downscale, mod_crop
from edgesr.pairs import ImagePair

STAGES = ("blur", "noise", "jpeg", "h264")  # in order; downscale runs between blur and noise
_RANGES = {"blur": (0.0, 10.0), "noise": (0.0, 50.0), "jpeg": (1.0, 100.0), "h264": (0.0, 51.0),
           "seed": (0.0, 2.0**32 - 1)}
_WHOLE = ("jpeg", "h264", "seed")


@dataclass(frozen=True)
class Degradation:
    blur: float = 0.0  # Gaussian sigma, HR pixels (0: none)
    noise: float = 0.0  # Gaussian sigma, 8-bit levels (0: none)
    jpeg: int | None = None  # quality
    h264: int | None = None  # x264 CRF
    seed: int = 0

    def describe(self) -> str:
        parts = [f"blur={self.blur:g}" if self.blur else "", f"noise={self.noise:g}" if self.noise else "",
                 f"jpeg={self.jpeg}" if self.jpeg is not None else "", f"h264={self.h264}" if self.h264 is not None
                 else ""]
        text = ",".join(p for p in parts if p) or "none"
        return text + (f",seed={self.seed}" if self.seed else "")


def parse_degrade(spec: str) -> Degradation:
    """``"blur=1.0,noise=5,jpeg=60"`` -> ``Degradation``; one UsageError line for anything malformed."""
    values: dict[str, float] = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        key, eq, text = item.partition("=")
        key = key.strip().lower()
        if key not in _RANGES:
            raise UsageError(f"--degrade: unknown stage {key!r} in {spec!r} (stages: {', '.join(STAGES)}, and seed)")
        if not eq:
            raise UsageError(f"--degrade: {key} needs a value, as in {key}=VALUE")
        if key in values:
            raise UsageError(f"--degrade: {key} is given twice in {spec!r}")
        try:
            v = float(text)
        except ValueError:
            raise UsageError(f"--degrade: {key} must be a number, got {text.strip()!r}") from None
        lo, hi = _RANGES[key]
        if not (math.isfinite(v) and lo <= v <= hi) or (key in _WHOLE and not v.is_integer()):
            kind = "a whole number" if key in _WHOLE else "a number"
            raise UsageError(f"--degrade: {key} must be {kind} in [{lo:g}, {hi:g}], got {text.strip()}")
        values[key] = v
    if not values:
        raise UsageError("--degrade needs at least one stage, e.g. blur=1.0,noise=5,jpeg=60")
    return Degradation(
        blur=values.get("blur", 0.0), noise=values.get("noise", 0.0),
        jpeg=int(values["jpeg"]) if "jpeg" in values else None,
        h264=int(values["h264"]) if "h264" in values else None, seed=int(values.get("seed", 0)),
    )


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian (radius ceil(3 sigma)), mirrored borders; uint8 in, uint8 out."""
    r = max(1, math.ceil(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    a = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    a = sum(k[i] * a[i : i + h] for i in range(2 * r + 1))
    a = sum(k[i] * a[:, i : i + w] for i in range(2 * r + 1))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def h264(img: np.ndarray, crf: int) -> np.ndarray:
    """One H.264 intra frame (x264 veryfast, yuv420p) and back; odd sides are padded by edge copies for yuv420p."""
    from fractions import Fraction

    import av

    h, w = img.shape[:2]
    frame = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base = frame.shape[1], frame.shape[0], "yuv420p", Fraction(1, 25)
    enc.thread_count = 1
    enc.options = {"crf": str(int(crf)), "preset": "veryfast", "tune": "zerolatency"}
    packets = list(enc.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
    packets += list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    frames = [f for pkt in packets for f in dec.decode(pkt)] + list(dec.decode(None))
    return np.ascontiguousarray(frames[0].to_ndarray(format="rgb24")[:h, :w])


def degrade_image(hr: np.ndarray, scale: int, d: Degradation, key: str) -> np.ndarray:
    """uint8 HR -> uint8 LR (HR mod-cropped / scale) through the stages of ``d``; ``key`` (the file name) seeds
    the noise together with ``d.seed``."""
    img = mod_crop(hr, scale)
    if d.blur > 0:
        img = gaussian_blur(img, d.blur)
    lr = downscale(img, scale)
    if d.noise > 0:
        rng = np.random.default_rng([d.seed, zlib.crc32(key.encode())])
        lr = np.clip(np.rint(lr + rng.normal(0.0, d.noise, lr.shape)), 0, 255).astype(np.uint8)
    if d.jpeg is not None:
        lr = jpeg(lr, d.jpeg)
    if d.h264 is not None:
        lr = h264(lr, d.h264)
    return lr


def degrade_pairs(pairs: list[ImagePair], scale: int, d: Degradation) -> list[ImagePair]:
    """The same (HR, LR) pairs with LR made by ``degrade_image`` instead of the clean downscale."""
    return [ImagePair(p.name, p.hr, degrade_image(p.hr, scale, d, p.name), p.gray) for p in pairs]

"""Pre- and post-processing, once, in numpy. Every stage (training data, export parity,
calibration, evaluation, streaming) goes through these functions.

Images in memory are ``uint8`` HxWx3 RGB arrays. Model tensors are NCHW float32 RGB in
[0, 1] (see ``edgesr.spec`` for the contract); ``to_nchw`` and ``from_nchw`` convert,
and ``from_nchw`` is the one place where model output is clipped and rounded.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgesr.errors import BadInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# -- reading and writing ------------------------------------------------------
def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read any common image as uint8 HxWx3 RGB.

    Grayscale, grayscale+alpha, palette, RGBA (alpha dropped), CMYK and 16-bit or
    float images are converted. An unreadable file raises ``BadInputError`` naming it.
    """
    return read_image(path)[0]


GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, bool]:
    """``load_image`` plus whether the file itself is single-channel (grayscale).

    SR tables score a grayscale file on its own gray values (``rgb_to_y(full_range=True)``);
    an RGB file whose channels happen to be equal is still scored as RGB.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            _warn_if_huge(p, im.size, Image.MAX_IMAGE_PIXELS)
            im.load()
            return _pil_to_rgb8(im), im.mode in GRAY_MODES
    except FileNotFoundError:
        raise BadInputError(f"image not found: {p}") from None
    except Image.DecompressionBombError:
        raise BadInputError(
            f"cannot read image {p}: it is larger than {2 * (Image.MAX_IMAGE_PIXELS or 0) // 10**6} megapixels "
            "(refused as a possible decompression bomb)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInputError(f"cannot read image {p}: {exc}") from None


def _warn_if_huge(p: Path, size: tuple[int, int], limit: int | None) -> None:
    """PIL's DecompressionBombWarning does not name the file (the CLI silences it); this does."""
    w, h = size
    if limit and w * h > limit:
        import warnings

        from edgesr.errors import EdgeSRWarning

        warnings.warn(
            f"{p} is {w}x{h} ({w * h / 1e6:.1f} megapixels): decoding it needs about "
            f"{w * h * 3 / 2**30:.1f} GiB of memory",
            EdgeSRWarning,
            stacklevel=3,
        )


def _pil_to_rgb8(im) -> np.ndarray:  # type: ignore[no-untyped-def]
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and a.max(initial=0) > 255):
            a = a / 65535.0 * 255.0
        elif mode == "F" and a.max(initial=0) <= 1.0:
            a = a * 255.0
        g = np.clip(np.round(a), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode != "RGB":
        im = im.convert("RGBA").convert("RGB") if mode in ("P", "PA", "LA", "RGBA") else im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    return np.ascontiguousarray(arr)


def save_image(path: str | os.PathLike[str], img: np.ndarray) -> None:
    """Write a uint8 RGB (or gray) image; the format follows the suffix. Atomic."""
    from PIL import Image

    from edgesr.artifact import atomic_write

    p = Path(path)
    fmt = image_format(p)
    with atomic_write(p, "image") as tmp:
        Image.fromarray(np.ascontiguousarray(img)).save(tmp, format=fmt)


def image_format(path: str | os.PathLike[str]) -> str:
    """PIL's format name for an output file's suffix; ``BadInputError`` for an unknown one."""
    from PIL import Image

    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise BadInputError(f"unknown image format for {p} (use .png or .jpg)")
    return fmt


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted). Errors if there are none."""
    root = Path(folder)
    if not root.exists():
        raise BadInputError(f"folder not found: {root}")
    if root.is_file():
        if root.suffix.lower() in IMAGE_SUFFIXES:
            return [root]
        raise BadInputError(f"not an image or folder of images: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BadInputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    return files


# -- model tensors --------------------------------------------------------------
def to_nchw(img: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB (or a batch NxHxWx3) -> float32 NCHW in [0, 1]."""
    if img.dtype != np.uint8:
        raise BadInputError(f"expected a uint8 image, got {img.dtype}")
    batch = img[None] if img.ndim == 3 else img
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise BadInputError(f"expected HxWx3 RGB image(s), got shape {img.shape}")
    out = batch.transpose(0, 3, 1, 2).astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def from_nchw(x: np.ndarray) -> np.ndarray:
    """float NCHW (or CHW) in [0, 1] -> uint8 NxHxWx3 (or HxWx3). Clips once, rounds."""
    squeeze = x.ndim == 3
    batch = x[None] if squeeze else x
    y = np.clip(batch.astype(np.float32, copy=False), 0.0, 1.0) * np.float32(255.0)
    out = np.ascontiguousarray(np.rint(y).astype(np.uint8).transpose(0, 2, 3, 1))
    return out[0] if squeeze else out


# -- geometry -------------------------------------------------------------------
def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale`` (top-left anchored, as in SR tables)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=64)
def _resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    """MATLAB ``imresize`` bicubic weights as a dense (out_len x in_len) matrix."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    if scale < 1 and antialias:
        weights = scale * _cubic(dist * scale)
    else:
        weights = _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    idx = np.clip(idx - 1, 0, in_len - 1).astype(np.int64)  # MATLAB replicates the edge
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), idx.ravel()), weights.ravel())
    return mat


def imresize(img: np.ndarray, scale: float | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Bicubic resize matching MATLAB ``imresize`` (antialiased when shrinking).

    ``img`` is HxW or HxWxC, uint8 or float. uint8 in gives uint8 out (rounded, as
    MATLAB does); float in gives float64 out, unclipped. Give ``scale`` or ``size=(h, w)``.
    """
    h, w = img.shape[:2]
    if size is None:
        if scale is None:
            raise ValueError("give scale or size")
        size = (int(math.ceil(h * scale)), int(math.ceil(w * scale)))
    oh, ow = size
    sh, sw = (scale, scale) if scale is not None else (oh / h, ow / w)
    a = img.astype(np.float64)
    a = np.tensordot(_resize_matrix(h, oh, sh, True), a, axes=(1, 0))
    a = np.moveaxis(np.tensordot(_resize_matrix(w, ow, sw, True), a, axes=(1, 1)), 0, 1)
    if img.dtype == np.uint8:
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return a


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """The standard SR degradation: MATLAB bicubic downsampling of a mod-cropped HR image."""
    return imresize(mod_crop(hr, scale), scale=1.0 / scale)


def upscale_bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline (MATLAB ``imresize``), uint8 in and out."""
    return imresize(lr, scale=float(scale))


# -- colour ---------------------------------------------------------------------
def rgb_to_y(img: np.ndarray, full_range: bool = False) -> np.ndarray:
    """Luma of a uint8/float RGB image in [0, 255], as float64.

    Default: ITU-R BT.601 studio range, as MATLAB ``rgb2ycbcr`` (Y in [16, 235]).
    ``full_range=True`` divides by 219 instead of 255 and drops the offset, so a
    grayscale image (R=G=B) keeps its own gray values: published tables compare
    grayscale images that way.
    """
    a = img.astype(np.float64)
    if a.ndim == 2:
        return a
    y = a[..., 0] * 65.481 + a[..., 1] * 128.553 + a[..., 2] * 24.966
    return y / 219.0 if full_range else 16.0 + y / 255.0


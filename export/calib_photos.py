"""Which calibration images are used, and the record of it.

A crop is always of the configured shape (the engine's ``--opt-shape``): an image smaller than the crop in
either side is **skipped** and counted in one warning, never used at its own size (the sidecar would then record
a crop shape that was not calibrated on). None left is one line naming the size needed. An unreadable image is
skipped and named too (as ``train`` does). Sizes come from the image header, so skipping costs no decoding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesr.errors import BadInputError, EdgeSRWarning
from edgesr.imageops import list_images, load_image

NAMED = 5  # skipped images named in the warning (the rest counted)


@dataclass(frozen=True)
class PhotoChoice:
    photos: list[Path]  # the images the crops come from, in order
    too_small: list[tuple[str, tuple[int, int]]] = field(default_factory=list)  # (name, HxW) skipped
    unreadable: list[str] = field(default_factory=list)  # skipped: no image header

    def record(self) -> list[str]:
        return [f"{name} ({h}x{w})" for name, (h, w) in self.too_small]


def header_size(path: Path) -> tuple[int, int] | None:
    """HxW from the image header (no decoding); None when the header cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - PIL raises many types for a damaged header
        return None
    return int(h), int(w)


def fits(hw: tuple[int, ...], shape: tuple[int, int]) -> bool:
    return hw[0] >= shape[0] and hw[1] >= shape[1]


def within(shape: tuple[int, int], crop: tuple[int, int]) -> tuple[int, int]:
    """A measurement crop (INT8 search, FP16 overflow check) no larger than the calibration crop: the images are
    only known to hold that."""
    return min(shape[0], crop[0]), min(shape[1], crop[1])


def choose_photos(folder: Path, shape: tuple[int, int], limit: int) -> PhotoChoice:
    """The first ``limit`` images of ``folder`` that are at least ``shape``; the smaller ones skipped, counted in
    one warning. None at least ``shape`` is one line."""
    files = list_images(folder)
    photos: list[Path] = []
    small: list[tuple[str, tuple[int, int]]] = []
    unreadable: list[str] = []
    for f in files:
        if len(photos) >= limit:
            break
        hw = header_size(f)
        if hw is None:
            unreadable.append(f.name)
            warnings.warn(f"calibration image skipped: cannot read image {f.name}", EdgeSRWarning, stacklevel=3)
        elif not fits(hw, shape):
            small.append((f.name, hw))
        else:
            photos.append(f)
    if not photos and not small:
        raise BadInputError(f"no calibration image of {len(files)} in {folder.name or folder} could be read")
    need = f"{shape[0]}x{shape[1]}"
    if small and not photos:
        h, w = max((hw for _, hw in small), key=lambda hw: hw[0] * hw[1])
        raise BadInputError(
            f"no calibration image in {folder.name or folder} is at least {need} (HxW, the calibration crop: the "
            f"engine's --opt-shape); the largest of {len(small)} is {h}x{w}: give images of at least {need} "
            "(--calib-data), or build with a smaller --opt-shape"
        )
    if small:
        named = ", ".join(f"{n} ({h}x{w})" for n, (h, w) in small[:NAMED])
        more = f" and {len(small) - NAMED} more" if len(small) > NAMED else ""
        warnings.warn(
            f"{len(small)} calibration image{'s' * (len(small) > 1)} skipped: smaller than the {need} crop "
            f"(--opt-shape): {named}{more}; calibrating on the other {len(photos)}",
            EdgeSRWarning,
            stacklevel=3,
        )
    return PhotoChoice(photos, small, unreadable)


def usable_images(files: list[Path], shape: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The images that load (and, with ``shape``, are at least that big): an unreadable file is skipped and
    named (as ``train`` does); none left is one line."""
    images = []
    for f in files:
        try:
            img = load_image(f)
        except BadInputError as exc:
            warnings.warn(f"calibration image skipped: {exc}", EdgeSRWarning, stacklevel=2)
            continue
        if shape is not None and not fits(img.shape[:2], shape):
            raise BadInputError(f"calibration image {f.name} is {img.shape[0]}x{img.shape[1]}, smaller than the "
                                f"{shape[0]}x{shape[1]} crop")
        images.append(img)
    if not images:
        raise BadInputError(f"no calibration image of {len(files)} could be read")
    return images

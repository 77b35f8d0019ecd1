"""Real images for the checks at export and build time (parity, accuracy gate).

An HR photo becomes an (LR, HR) pair the way every SR table makes one (``edgesr.pairs``). When an engine only takes
inputs up to some size, the HR image is centre-cropped first so that its LR fits.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgesr.errors import BadInputError
from edgesr.export.camera_content import check_pairs
from edgesr.imageops import list_images, read_image
from edgesr.pairs import ImagePair, centre_crop, make_pair

FLAT_STD = 1.0  # an image whose pixels vary less than this (0-255 scale) has nothing to check


def load_check_images(
    folder: str | os.PathLike[str],
    scale: int,
    *,
    max_lr: tuple[int, int] | None = None,
    min_lr: tuple[int, int] | None = None,
    exclude: frozenset[Path] = frozenset(),
) -> tuple[list[ImagePair], list[str]]:
    """(LR, HR) pairs from every image under ``folder``; also the names skipped as too small.

    ``max_lr``: HR is centre-cropped so the LR is at most this (an engine's max shape).
    ``min_lr``: images whose LR would be smaller are skipped (an engine's min shape).
    ``exclude``: resolved paths that must not be used (calibration images).
    """
    files = [f for f in list_images(folder) if f.resolve() not in exclude]
    if not files:
        raise BadInputError(f"every image in {folder} was used for calibration: pass other --check-data")
    pairs: list[ImagePair] = []
    skipped: list[str] = []
    for f in files:
        hr, gray = read_image(f)
        if max_lr is not None:
            hr = centre_crop(hr, max_lr[0] * scale, max_lr[1] * scale)
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        if min(h, w) < 1 or (min_lr is not None and (h < min_lr[0] or w < min_lr[1])):
            skipped.append(f.name)
            continue
        if float(hr.std()) < FLAT_STD:  # all black, one colour: any engine "passes" on it (94 dB, inf)
            skipped.append(f"{f.name} (flat)")
            continue
        pairs.append(make_pair(f.name, hr, scale, gray))
    if not pairs and any(n.endswith(" (flat)") for n in skipped):
        raise BadInputError(f"no usable image in {folder}: flat images (one colour) cannot check an engine")
    if not pairs:
        raise BadInputError(
            f"no image in {folder} is large enough for the engine's min shape {min_lr[0]}x{min_lr[1]} at x{scale}"
            if min_lr
            else f"no usable image in {folder}"
        )
    return pairs, skipped


def gate_check_set(
    folder: str | os.PathLike[str],
    scale: int,
    *,
    max_lr: tuple[int, int] | None = None,
    min_lr: tuple[int, int] | None = None,
    exclude: frozenset[Path] = frozenset(),
) -> tuple[list[ImagePair], dict[str, str], list[str]]:
    """The accuracy gate's check set: the images of ``folder`` (class ``natural``) and synthetic camera frames
    over them (classes ``overlay_text`` and ``synthetic_graphics``, ``camera_content.check_pairs``), sized to
    fit the engine's shapes; also each pair's class by name and the names skipped as too small."""
    pairs, skipped = load_check_images(folder, scale, max_lr=max_lr, min_lr=min_lr, exclude=exclude)
    classes = {p.name: "natural" for p in pairs}
    for pair, cls in check_pairs([(p.name, p.hr) for p in pairs], scale, max_lr=max_lr, min_lr=min_lr):
        pairs.append(pair)
        classes[pair.name] = cls
    return pairs, classes, skipped

"""Training and validation data, in memory.

Each HR image is read once (any mode -> uint8 RGB via ``imageops.load_image``), mod-cropped
to the scale, and its LR image is made ONCE from the whole image with the standard SR
degradation (``imageops.downscale``: MATLAB bicubic with antialiasing). Training crops are
aligned slices of the (HR, LR) pair, then flipped / rotated by 90 degrees (8 variants).
Training data may come from several folders (``--data T91 --data BSD200``) or a list file;
crops are drawn with probability proportional to each image's area, so a set of many small
images does not outweigh a set of fewer large ones.

Batches are drawn from a seeded numpy generator: every process draws the same *global*
batch (image, position, flip/rotation for each of ``batch x world`` samples) and builds
only its own slice. So a run on N processes sees exactly the samples a single process with
an N-times larger batch would, which makes DDP runs comparable and resumable (the
generator state is saved in checkpoints).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.errors import BadInputError
from edgesr.imageops import list_images, mod_crop, read_image
from edgesr.pairs import ImagePair, make_pair

Source = str | os.PathLike[str]


def expand_sources(sources: Source | list[Source] | tuple[Source, ...]) -> list[Path]:
    """Image files from folders, image files and list files (``.txt``/``.lst``: one folder or
    image per line, relative to the list file, ``#`` comments). A file reached twice is read once."""
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_file() and p.suffix.lower() in (".txt", ".lst"):
            lines = [ln.split("#", 1)[0].strip() for ln in p.read_text(errors="replace").splitlines()]
            entries: list[Source] = [p.parent / ln for ln in lines if ln]
            if not entries:
                raise BadInputError(f"list file {p} names no folder or image")
            files += expand_sources(entries)
        else:
            files += list_images(p)
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def load_pairs(
    folder: Source | list[Source] | tuple[Source, ...],
    scale: int,
    min_lr: int = 1,
    warn: Callable[[str], None] | None = None,
    role: str = "training",  # named in the error: training, validation, evaluation
) -> list[ImagePair]:
    """Read every image under ``folder`` (a folder, image, list file, or a list of them) and
    make its LR twin.

    Unreadable files are reported by name and skipped; images whose LR side is smaller
    than ``min_lr`` (the LR crop) are skipped with ONE warning naming them. No usable
    image left: ``BadInputError``."""
    warn = warn or (lambda msg: None)
    pairs: list[ImagePair] = []
    small: list[str] = []
    where = folder if isinstance(folder, (str, os.PathLike)) else ", ".join(map(str, folder))
    for path in expand_sources(folder):
        try:
            rgb, gray = read_image(path)
        except BadInputError as exc:
            warn(f"skipped: {exc}")
            continue
        hr = mod_crop(rgb, scale)
        if min(hr.shape[:2]) < max(min_lr, 1) * scale:
            small.append(f"{path.name} ({rgb.shape[1]}x{rgb.shape[0]})")
            continue
        pairs.append(make_pair(path.name, hr, scale, gray))
    if small:
        warn(f"skipped {len(small)} image(s) smaller than the {min_lr * scale}px crop: {', '.join(small)}")
    if not pairs:
        raise BadInputError(f"no usable {role} image in {where} (need images of at least {min_lr * scale}px)")
    return pairs


def augment(img: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flip/rotation variants (``code`` in 0..7) of an HxWxC array."""
    if code & 4:
        img = img[:, ::-1]
    return np.rot90(img, k=code & 3)


class PatchSampler:
    """Random aligned (LR, HR) crops from in-memory pairs, as float32 NCHW batches in [0, 1].

    An image is picked with probability proportional to its area, then a uniform position
    in it: every pixel of the training set is equally likely to be seen."""

    def __init__(self, pairs: list[ImagePair], scale: int, hr_crop: int, seed: int) -> None:
        if hr_crop % scale:
            raise ValueError("hr_crop must be a multiple of scale")
        self.pairs = pairs
        self.scale = scale
        self.lr_crop = hr_crop // scale
        self.rng = np.random.default_rng(seed)
        self._lr_hw = np.array([p.lr.shape[:2] for p in pairs], dtype=np.int64)
        area = self._lr_hw[:, 0] * self._lr_hw[:, 1]
        self._cum_area = np.cumsum(area) / area.sum()

    def draw(self, global_batch: int) -> np.ndarray:
        """(image, y, x, aug) for every sample of one global batch, shape (B, 4)."""
        pick = np.searchsorted(self._cum_area, self.rng.random(global_batch), side="right")
        idx = np.minimum(pick, len(self.pairs) - 1).astype(np.int64)
        room = self._lr_hw[idx] - self.lr_crop + 1
        y = (self.rng.random(global_batch) * room[:, 0]).astype(np.int64)
        x = (self.rng.random(global_batch) * room[:, 1]).astype(np.int64)
        aug = self.rng.integers(0, 8, size=global_batch)
        return np.stack([idx, y, x, aug], axis=1)

    def build(self, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Materialise draws into (lr, hr) float32 NCHW arrays."""
        p, s = self.lr_crop, self.scale
        lrs, hrs = [], []
        for i, y, x, aug in draws:
            pair = self.pairs[int(i)]
            lrs.append(augment(pair.lr[y : y + p, x : x + p], int(aug)))
            hrs.append(augment(pair.hr[y * s : (y + p) * s, x * s : (x + p) * s], int(aug)))
        return _to_float_nchw(np.stack(lrs)), _to_float_nchw(np.stack(hrs))

    def next_batch(self, batch: int, rank: int = 0, world: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """This process's slice of the next global batch (``batch`` samples per process)."""
        draws = self.draw(batch * world)
        return self.build(draws[rank * batch : (rank + 1) * batch])

    def state(self) -> dict[str, Any]:
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


def _to_float_nchw(batch: np.ndarray) -> np.ndarray:
    out = batch.transpose(0, 3, 1, 2).astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def default_train_dir() -> Path:
    """The built-in sample photographs (``edgesr.samples``), so ``edgesr train`` runs as is."""
    from edgesr.samples import samples_dir

    return samples_dir("train")

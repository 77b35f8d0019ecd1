"""Training and validation data, in memory.

Each HR image is read once (any mode -> uint8 RGB via ``imageops.load_image``), mod-cropped
to the scale, and its LR image is made ONCE from the whole image with the standard SR
degradation (``imageops.downscale``: MATLAB bicubic with antialiasing). Training crops are
aligned slices of the (HR, LR) pair, then flipped / rotated by 90 degrees (8 variants).
Training data may come from several folders (``--data T91 --data BSD200``) or a list file;
crops are drawn with probability proportional to each image's area, so a set of many small
images does not outweigh a set of fewer large ones.

A **paired folder** (a ``--data`` folder holding ``hr/`` and ``lr/``, matched by file name as
``eval --lr-data`` does) gives each LR image instead of making it: for degradations that happen at the
resolution the model receives and cannot be made by downscaling the HR image (a camera's OSD text burnt into
the frame the engine gets, your own camera's LR frames). Each LR file must be exactly its mod-cropped HR
image's size / scale. Its crops are aligned slices like any other; ``--degradation real`` refuses paired
folders (it makes every LR from HR).

Batches are drawn from a seeded numpy generator: every process draws the same *global*
batch (image, position, flip/rotation for each of ``batch x world`` samples) and builds
only its own slice. So a run on N processes sees exactly the samples a single process with
an N-times larger batch would, which makes DDP runs comparable and resumable (the
generator state is saved in checkpoints).

``--degradation real`` (``edgesr.train.degrade_real``): the LR crop is made on the fly from the HR crop and
``CONTEXT`` LR pixels around it (so blur and resizes see real neighbours, not a mirrored border) by Real-ESRGAN's
second-order pipeline. Each sample's draw carries its own seed, drawn from the sampler's generator, so a batch is a
pure function of its draws: reproducible, resumable, and buildable in any process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesr.errors import BadInputError
from edgesr.imageops import list_images, mod_crop, read_image
from edgesr.pairs import ImagePair, make_pair
from edgesr.restoration_pairs import folder_pairs

PAIRED = ("hr", "lr")  # subfolders of a paired folder

if TYPE_CHECKING:
    from edgesr.train.degrade_real import RealDegradation

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
    items = [folder] if isinstance(folder, (str, os.PathLike)) else list(folder)
    paired = [Path(p) for p in items if is_paired(p)]
    plain = [p for p in items if Path(p) not in paired]
    for path in expand_sources(plain):
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
    for pair in (q for p in paired for q in folder_pairs(p / "hr", p / "lr", scale)):  # LR as given, size-checked
        if min(pair.lr.shape[:2]) < max(min_lr, 1):
            small.append(f"{pair.name} ({pair.hr.shape[1]}x{pair.hr.shape[0]})")
            continue
        pairs.append(pair)
    if small:
        warn(f"skipped {len(small)} image(s) smaller than the {min_lr * scale}px crop: {', '.join(small)}")
    if not pairs:
        raise BadInputError(f"no usable {role} image in {where} (need images of at least {min_lr * scale}px)")
    return pairs


def is_paired(source: Source) -> bool:
    p = Path(source)
    return p.is_dir() and all((p / sub).is_dir() for sub in PAIRED)


def augment(img: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flip/rotation variants (``code`` in 0..7) of an HxWxC array."""
    if code & 4:
        img = img[:, ::-1]
    return np.rot90(img, k=code & 3)


class PatchSampler:
    """Random aligned (LR, HR) crops from in-memory pairs, as float32 NCHW batches in [0, 1].

    An image is picked with probability proportional to its area, then a uniform position
    in it: every pixel of the training set is equally likely to be seen."""

    CONTEXT = 4  # LR pixels of context degraded around a crop (Real-ESRGAN degrades 400px and then crops 256)

    def __init__(self, pairs: list[ImagePair], scale: int, hr_crop: int, seed: int,
                 degradation: RealDegradation | None = None) -> None:
        if hr_crop % scale:
            raise ValueError("hr_crop must be a multiple of scale")
        if degradation is not None:
            from edgesr.train.degrade_real import refuse_given_lr

            refuse_given_lr(pairs)
        self.pairs = pairs
        self.degradation = degradation
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
        if self.degradation is None:
            return np.stack([idx, y, x, aug], axis=1)
        seeds = self.rng.integers(0, 2**62, size=global_batch)  # real: one degradation seed per sample
        return np.stack([idx, y, x, aug, seeds], axis=1)

    def build(self, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Materialise draws into (lr, hr) float32 NCHW arrays."""
        p, s = self.lr_crop, self.scale
        lrs, hrs = [], []
        for row in draws:
            i, y, x, aug = (int(v) for v in row[:4])
            pair = self.pairs[i]
            lr = pair.lr[y : y + p, x : x + p] if self.degradation is None else self._degraded(pair, y, x, int(row[4]))
            lrs.append(augment(lr, aug))
            hrs.append(augment(pair.hr[y * s : (y + p) * s, x * s : (x + p) * s], aug))
        if self.degradation is not None:
            lrs = self._h264(lrs, draws[:, 4])
        return _to_float_nchw(np.stack(lrs)), _to_float_nchw(np.stack(hrs))

    def _degraded(self, pair: ImagePair, y: int, x: int, seed: int) -> np.ndarray:
        """The LR crop at (y, x), made by the real pipeline from the HR crop and its context."""
        from edgesr.train.degrade_real import degrade

        assert self.degradation is not None
        p, s, m = self.lr_crop, self.scale, self.CONTEXT
        h, w = pair.lr.shape[:2]
        y0, x0, y1, x1 = max(0, y - m), max(0, x - m), min(h, y + p + m), min(w, x + p + m)
        if np.random.default_rng([seed, 1]).uniform() < self.degradation.clean_prob:
            return pair.lr[y : y + p, x : x + p]
        lr = degrade(pair.hr[y0 * s : y1 * s, x0 * s : x1 * s], s, self.degradation, np.random.default_rng(seed))
        return lr[y - y0 : y - y0 + p, x - x0 : x - x0 + p]

    def _h264(self, lrs: list[np.ndarray], seeds: np.ndarray) -> list[np.ndarray]:
        """Stage 9 of the real pipeline: the chosen crops of this batch through H.264 at one random CRF."""
        from edgesr.train.degrade_real import h264_tiles

        assert self.degradation is not None
        d = self.degradation
        rng = np.random.default_rng([int(v) for v in seeds])
        crf = float(rng.uniform(*d.h264_crf_range))
        chosen = [k for k in range(len(lrs)) if rng.uniform() < d.h264_prob]
        if chosen:
            for k, out in zip(chosen, h264_tiles([np.ascontiguousarray(lrs[k]) for k in chosen], crf), strict=True):
                lrs[k] = out
        return lrs

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

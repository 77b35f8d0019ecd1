"""Built-in sample images, so every command runs out of the box without a dataset.

They are the natural photographs that ship inside scikit-image (no download). Two
disjoint splits: ``train`` (training and INT8 calibration by default) and ``holdout``
(accuracy-gate check images by default, never used for training or calibration).
"""

from __future__ import annotations

import os
from pathlib import Path

from edgesr.errors import BadInputError, require
from edgesr.imageops import load_image, save_image

SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
              "hubble_deep_field.jpg", "brick.png", "grass.png"),
    "holdout": ("retina.jpg", "camera.png", "coins.png", "gravel.png"),
}


def cache_dir() -> Path:
    """``$EDGESR_CACHE``, else ``$XDG_CACHE_HOME/edgesr``, else ``~/.cache/edgesr``."""
    if os.environ.get("EDGESR_CACHE"):
        return Path(os.environ["EDGESR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgesr"


def samples_dir(split: str = "train") -> Path:
    """A folder of the split's images as PNG (written once into the edgesr cache)."""
    if split not in SPLITS:
        raise BadInputError(f"unknown sample split {split!r} (choose {', '.join(SPLITS)})")
    skimage_data = Path(require("skimage.data", extra="train", why="the built-in sample images come with it").__file__).parent
    out = cache_dir() / "samples" / split
    for name in SPLITS[split]:
        dest = out / (Path(name).stem + ".png")
        if not dest.exists():
            src = skimage_data / name
            if not src.exists():
                raise BadInputError(f"scikit-image has no {name}; pass your own images with --data")
            save_image(dest, load_image(src))
    return out

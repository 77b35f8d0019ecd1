"""Small builders shared by the training tests (tiny image folders, tiny runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edgesr.imageops import imresize

TINY: dict[str, Any] = {  # a run that takes well under a second per step on 2 cores
    "preset": "edge_xs", "crop": 32, "batch": 2, "steps": 3, "amp": "off", "device": "cpu",
    "log_every": 1, "save_every": 2, "sample_every": 2, "val_every": 2,
}


def image_folder(root: Path, n: int = 3, size: tuple[int, int] = (64, 72), seed: int = 0) -> Path:
    """``n`` smooth random RGB PNGs (bicubic-upscaled noise) in ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        small = rng.integers(0, 256, size=(h // 8, w // 8, 3), dtype=np.uint8)
        Image.fromarray(imresize(small, size=(h, w))).save(root / f"img{i}.png")
    return root


def cli_args(values: dict[str, Any]) -> list[str]:
    """{"save_every": 2} -> ["--save-every", "2"]."""
    out: list[str] = []
    for k, v in values.items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out

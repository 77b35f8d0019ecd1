"""Pictures for ``edgesr demo``: a moving clip made from one still photo, and a labelled
bicubic | SR | HR comparison PNG.

The clip is what a camera panning and zooming over the photo would deliver: for each frame a
window of the photo (3:4 like the frame, drifting across it while zooming in, with a smooth
ease-in-out), resampled with PIL's antialiased bicubic filter at sub-pixel window positions
(so the motion is smooth), written as H.264 by the runtime's own ``VideoSink``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edgesr.imageops import save_image
from edgesr.runtime.sinks import VideoSink
from edgesr.runtime.sources import Frame

LABEL_H = 30
GAP = 6


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def pan_zoom_frames(
    photo: np.ndarray,
    frames: int,
    size: tuple[int, int],
    zoom: float = 2.2,
    focus: tuple[float, float] = (0.3, 0.45),
) -> Iterator[np.ndarray]:
    """``frames`` uint8 HxWx3 frames of ``size`` (H, W). The window starts on the whole photo (as large
    as the frame's aspect allows, centred) and ends ``zoom`` times closer, centred on ``focus``
    (fractions of the photo's height and width), kept inside the photo all along."""
    h, w = size
    ih, iw = photo.shape[:2]
    aspect = w / h
    full_h = min(ih, iw / aspect)  # the largest window of the frame's aspect
    im = Image.fromarray(photo)
    for i in range(frames):
        t = _ease(i / max(1, frames - 1))
        win_h = full_h / (1 + (zoom - 1) * t)
        win_w = win_h * aspect
        cy = ih * (0.5 + (focus[0] - 0.5) * t)
        cx = iw * (0.5 + (focus[1] - 0.5) * t)
        y0 = min(max(cy - win_h / 2, 0.0), ih - win_h)
        x0 = min(max(cx - win_w / 2, 0.0), iw - win_w)
        yield np.asarray(im.resize((w, h), Image.Resampling.BICUBIC, box=(x0, y0, x0 + win_w, y0 + win_h)))


def write_clip(photo: np.ndarray, path: Path, frames: int, size: tuple[int, int], fps: int = 30) -> Path:
    """Encode the pan-and-zoom clip of ``photo`` to ``path`` (H.264 .mp4)."""
    sink = VideoSink(path, Fraction(fps))
    done = False
    try:
        for i, img in enumerate(pan_zoom_frames(photo, frames, size)):
            sink.write(Frame(index=i, image=img), img)
        done = True
    finally:
        sink.close(complete=done)
    return path


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:
        return ImageFont.load_default()


def comparison_png(path: Path, panels: list[tuple[str, np.ndarray]]) -> Path:
    """Panels side by side (all the same size), each under a label bar; white gaps between them."""
    h, w = panels[0][1].shape[:2]
    if any(p.shape[:2] != (h, w) for _, p in panels):
        raise ValueError("comparison panels must all have the same size")
    n = len(panels)
    canvas = Image.new("RGB", (n * w + (n - 1) * GAP, h + LABEL_H), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(16)
    for i, (label, img) in enumerate(panels):
        x = i * (w + GAP)
        canvas.paste(Image.fromarray(img), (x, LABEL_H))
        draw.text((x + 6, 7), label, fill="black", font=font)
    save_image(path, np.asarray(canvas))
    return path

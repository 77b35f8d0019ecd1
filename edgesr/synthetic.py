"""Camera-like frames made by edgesr itself: what cameras burn into their frames, over natural photos.

Security, dash and body cameras burn a timestamp, a channel name, a speed or GPS line and often a logo
into every frame; test and broadcast chains carry colour bars and test patterns. That content is flat,
saturated and sharp-edged, nothing like the photos SR models are trained and calibrated on, and it is
where INT8 breaks first (docs/overlays.md). This module makes such frames, seeded and deterministic,
with numpy and Pillow only (no downloads), for INT8 calibration and the accuracy gate's check set.

Content classes (``CLASSES``):
- ``natural``: the photos as they are (not made here);
- ``overlay_text``: a photo with OSD text (several fonts, sizes and colours; plain, in a background box
  or with an outline; a full-width bar) and a logo;
- ``synthetic_graphics``: colour bars (SMPTE-like 75%, EBU-like 100%) and test patterns (a colour grid
  with a gradient and a counter, as ffmpeg's ``testsrc``; checkerboards and a zone plate), some with text.

Overlays are drawn at the frame's own resolution (the camera burns them into the frame it sends), on a
transparent layer; ``pair`` puts the same layer, nearest-upscaled, on the HR photo, so the overlay has
sharp edges in both.

Fonts (``fonts``): Pillow's built-in bitmap font, Pillow's built-in scalable font where this Pillow has
one, and any DejaVu fonts in the usual folders. Nothing depends on system fonts: without them the
frames use Pillow's own fonts only (so frames can differ between machines with and without DejaVu;
the names of the fonts used are reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CLASSES = ("natural", "overlay_text", "synthetic_graphics")
GRAPHICS = ("bars_smpte", "bars_ebu", "testsrc", "checker_zoneplate")
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
             "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")
DEJAVU = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
          "DejaVuSerif.ttf", "DejaVuSansCondensed.ttf")
COLOURS = ((255, 255, 255), (255, 255, 0), (0, 255, 0), (255, 32, 32), (0, 255, 255), (0, 0, 0))

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


@dataclass(frozen=True)
class FontSource:
    name: str
    path: Path | None = None  # None: one of Pillow's built-in fonts

    def load(self, size: int) -> Font:
        if self.path is not None:
            return ImageFont.truetype(str(self.path), size)
        if self.name == "pillow-scalable":
            return ImageFont.load_default(size=size)
        return ImageFont.load_default()


def fonts() -> list[FontSource]:
    """Pillow's bitmap font, its scalable font (Pillow >= 10.1 with FreeType), DejaVu fonts found."""
    out = [FontSource("pillow-bitmap")]
    try:
        ImageFont.load_default(size=12)
        out.append(FontSource("pillow-scalable"))
    except (TypeError, OSError, AttributeError, ImportError):  # older Pillow or no FreeType: bitmap only
        pass
    for name in DEJAVU:
        found = next((Path(d) / name for d in FONT_DIRS if (Path(d) / name).is_file()), None)
        if found is not None:
            try:
                ImageFont.truetype(str(found), 12)
                out.append(FontSource(found.stem, found))
            except OSError:
                continue
    return out


@dataclass(frozen=True)
class Frame:
    name: str
    content: str  # one of CLASSES
    image: np.ndarray  # uint8 HxWx3: the frame the camera sends (overlay included)
    layer: np.ndarray | None = None  # RGBA uint8 overlay drawn over ``image``'s photo (None: all synthetic)


def _camera_text(rng: np.random.Generator) -> str:
    y, mo, d = int(rng.integers(2019, 2031)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    h, mi, s = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    iso, european = f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}", f"{d:02d}/{mo:02d}/{y} {h:02d}:{mi:02d}"
    stamp = iso if rng.random() < 0.6 else european
    extra = (f"CAM 0{int(rng.integers(1, 9))}", f"CH{int(rng.integers(1, 17))} FRONT DOOR",
             f"{int(rng.integers(0, 130))} km/h", f"GPS {rng.uniform(-80, 80):.4f}N {rng.uniform(-170, 170):.4f}E",
             "REC", "PARKING LOT B", "UNIT 7 BODYCAM", f"ISO {int(rng.choice([100, 400, 1600]))}")
    return stamp if rng.random() < 0.5 else f"{stamp}  {extra[int(rng.integers(len(extra)))]}"


def _colour(rng: np.random.Generator, avoid: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    choices = [c for c in COLOURS if c != avoid]
    return choices[int(rng.integers(len(choices)))]


def _text(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, sources: Sequence[FontSource],
          where: str) -> None:
    """One OSD line: plain, in a box, with an outline, or a full-width bar."""
    src = sources[int(rng.integers(len(sources)))]
    size = int(rng.integers(max(8, h // 22), max(10, h // 9) + 1))
    text = _camera_text(rng)
    style = ("plain", "box", "outline", "bar")[int(rng.integers(4))]
    fill = _colour(rng)
    font = src.load(size)
    box = draw.textbbox((0, 0), text, font=font)
    while box[2] - box[0] > w - 6:  # fit the width: smaller, then shorter, else let it run off the edge
        if size > 8 and src.name != "pillow-bitmap":
            size -= 1
        elif "  " in text:
            text = text.split("  ")[0]
        else:
            break
        font = src.load(size)
        box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    pad = max(1, th // 4)
    x = pad + 1 if "left" in where else max(0, w - tw - 2 * pad - 1)
    y = pad + 1 if "top" in where else max(0, h - th - 2 * pad - 1)
    if style == "bar":
        bar = (0, 0, 0, 255) if fill != (0, 0, 0) else (255, 255, 255, 255)
        draw.rectangle([0, y - pad, w - 1, y + th + pad], fill=bar)
    elif style == "box":
        alpha = int(rng.choice([160, 255]))
        bg = (0, 0, 0, alpha) if fill != (0, 0, 0) else (255, 255, 255, alpha)
        draw.rectangle([x - pad, y - pad, x + tw + pad, y + th + pad], fill=bg)
    stroke = max(1, size // 12) if style == "outline" else 0
    _draw_text(draw, (x - box[0], y - box[1]), text, font, (*fill, 255), stroke)


def _draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: Font, fill: tuple[int, ...],
               stroke: int) -> None:
    """Text with a contrasting outline of ``stroke`` px (plain where the font cannot stroke)."""
    outline = (0, 0, 0, 255) if sum(fill[:3]) > 0 else (255, 255, 255, 255)
    try:
        draw.text(xy, text, font=font, fill=fill, stroke_width=stroke, stroke_fill=outline)
    except (TypeError, ValueError, NotImplementedError):  # Pillow's bitmap font cannot stroke
        draw.text(xy, text, font=font, fill=fill)


def _logo(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, sources: Sequence[FontSource]) -> None:
    """A small corner logo: a disc or rounded square with two letters, opaque or translucent."""
    side = int(rng.integers(max(10, h // 10), max(12, h // 5) + 1))
    x = int(rng.choice([2, w - side - 2]))
    y = int(rng.choice([2, h - side - 2]))
    alpha = int(rng.choice([128, 200, 255]))
    colour = _colour(rng, avoid=(0, 0, 0))
    if rng.random() < 0.5:
        draw.ellipse([x, y, x + side, y + side], fill=(*colour, alpha), outline=(255, 255, 255, alpha))
    else:
        draw.rounded_rectangle([x, y, x + side, y + side], radius=side // 4, fill=(*colour, alpha))
    font = sources[int(rng.integers(len(sources)))].load(max(8, side // 2))
    letters = "".join(chr(int(c)) for c in rng.integers(65, 91, 2))
    box = draw.textbbox((0, 0), letters, font=font)
    draw.text((x + (side - box[2] + box[0]) // 2 - box[0], y + (side - box[3] + box[1]) // 2 - box[1]), letters,
              font=font, fill=(0, 0, 0, 255) if sum(colour) > 380 else (255, 255, 255, 255))


def overlay_layer(h: int, w: int, rng: np.random.Generator, sources: Sequence[FontSource]) -> np.ndarray:
    """A transparent RGBA layer with 1-3 OSD text lines and, mostly, a logo."""
    im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    corners = ["top-left", "bottom-right", "top-right", "bottom-left"]  # pairs never share a row
    first = 2 * int(rng.integers(2))
    for i in range(int(rng.integers(1, 3))):  # one line, or two in opposite corners
        _text(draw, w, h, rng, sources, corners[first + i])
    if rng.random() < 0.7:
        _logo(draw, w, h, rng, sources)
    return np.asarray(im)


def composite(photo: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """``layer`` (RGBA) alpha-blended over ``photo`` (RGB uint8), same size."""
    a = layer[..., 3:4].astype(np.float32) / 255.0
    out = photo.astype(np.float32) * (1 - a) + layer[..., :3].astype(np.float32) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def colour_bars(h: int, w: int, kind: str = "smpte") -> np.ndarray:
    """SMPTE-like 75% bars over a reverse strip and a pluge row, or EBU-like 100% bars."""
    level = 191 if kind == "smpte" else 255
    order = [(1, 1, 1), (1, 1, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (1, 0, 0), (0, 0, 1)]
    if kind != "smpte":
        order.append((0, 0, 0))
    img = np.zeros((h, w, 3), np.uint8)
    edges = np.linspace(0, w, len(order) + 1).astype(int)
    top = int(h * 0.67) if kind == "smpte" else h
    for (r, g, b), x0, x1 in zip(order, edges[:-1], edges[1:], strict=True):
        img[:top, x0:x1] = (r * level, g * level, b * level)
    if kind == "smpte":
        rev = [(0, 0, 1), (0, 0, 0), (1, 0, 1), (0, 0, 0), (0, 1, 1), (0, 0, 0), (1, 1, 1)]
        mid = int(h * 0.75)
        for (r, g, b), x0, x1 in zip(rev, edges[:-1], edges[1:], strict=True):
            img[top:mid, x0:x1] = (r * level, g * level, b * level)
        pl = np.linspace(0, w, 7).astype(int)
        for v, x0, x1 in zip((0, 255, 50, 0, 10, 0), pl[:-1], pl[1:], strict=True):
            img[mid:, x0:x1] = v
    return img


def test_pattern(h: int, w: int, kind: str, rng: np.random.Generator, sources: Sequence[FontSource]) -> np.ndarray:
    """``testsrc``: a saturated colour grid, a grey ramp and a big counter (as ffmpeg's testsrc);
    ``checker_zoneplate``: a checkerboard beside a zone plate."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "testsrc":
        cell = max(4, min(h, w) // int(rng.integers(6, 11)))
        hue = ((xx // cell) * 7 + (yy // cell) * 3) % 8
        palette = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
                            (255, 255, 255), (0, 0, 0)], np.uint8)
        img = palette[hue.astype(int)]
        band = slice(int(h * 0.8), int(h * 0.9))
        img[band] = (xx[band][..., None] / max(w - 1, 1) * 255).astype(np.uint8)
        im = Image.fromarray(img)
        draw = ImageDraw.Draw(im)
        font = sources[int(rng.integers(len(sources)))].load(max(10, h // 4))
        text = f"{int(rng.integers(0, 1000)):03d}"
        box = draw.textbbox((0, 0), text, font=font)
        _draw_text(draw, ((w - box[2]) // 2, (h - box[3]) // 3), text, font, (255, 255, 255, 255), 1)
        return np.asarray(im)
    cell = int(rng.integers(3, 9))
    checker = (((xx // cell) + (yy // cell)) % 2 * 255).astype(np.uint8)
    r2 = (xx - w * 0.75) ** 2 + (yy - h / 2) ** 2
    zone = (127.5 + 127.5 * np.cos(np.pi * r2 / (2.0 * max(h, w)))).astype(np.uint8)  # <= 0.35 cycles/px
    gray = np.where(xx < w / 2, checker, zone)
    return np.repeat(gray[..., None], 3, axis=2)


def graphics(h: int, w: int, kind: str, rng: np.random.Generator, sources: Sequence[FontSource]) -> np.ndarray:
    if kind == "bars_smpte":
        img = colour_bars(h, w, "smpte")
    elif kind == "bars_ebu":
        img = colour_bars(h, w, "ebu")
    else:
        img = test_pattern(h, w, kind, rng, sources)
    if kind.startswith("bars") and rng.random() < 0.5:  # bars with a station/channel caption
        img = composite(img, overlay_layer(h, w, rng, sources))
    return img


def photo_crop(photo: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random h x w crop of ``photo`` (tiled by reflection when the photo is smaller)."""
    ph, pw = photo.shape[:2]
    if ph < h or pw < w:
        photo = np.pad(photo, ((0, max(0, h - ph)), (0, max(0, w - pw)), (0, 0)), mode="reflect")
        ph, pw = photo.shape[:2]
    top, left = int(rng.integers(0, ph - h + 1)), int(rng.integers(0, pw - w + 1))
    return np.ascontiguousarray(photo[top : top + h, left : left + w])


def frames(photos: Sequence[np.ndarray], shape: tuple[int, int], count: int, seed: int = 0,
           sources: Sequence[FontSource] | None = None, graphics_too: bool = True) -> list[Frame]:
    """``count`` frames of ``shape``, alternating overlay text on a photo crop and synthetic graphics
    (graphics cycle through ``GRAPHICS``; ``graphics_too`` False: overlay frames only), seeded: the same
    arguments give the same frames."""
    if not photos:
        raise ValueError("synthetic overlay frames need at least one photo")
    sources = list(sources) if sources is not None else fonts()
    rng = np.random.default_rng(seed)
    h, w = shape
    out: list[Frame] = []
    for i in range(count):
        if i % 2 == 0 or not graphics_too:
            photo = photo_crop(photos[(i // 2 if graphics_too else i) % len(photos)], h, w, rng)
            layer = overlay_layer(h, w, rng, sources)
            out.append(Frame(f"overlay_{i:02d}", "overlay_text", composite(photo, layer), layer))
        else:
            kind = GRAPHICS[(i // 2) % len(GRAPHICS)]
            out.append(Frame(f"graphics_{i:02d}_{kind}", "synthetic_graphics", graphics(h, w, kind, rng, sources)))
    return out


def graphics_set(shape: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """One frame of each ``GRAPHICS`` kind at ``shape`` (uint8 RGB), seeded: high-contrast content that drives
    activations further than photos do (what INT8 ranges and FP16 overflow checks must hold on too)."""
    rng = np.random.default_rng(seed)
    sources = fonts()
    return [graphics(shape[0], shape[1], kind, rng, sources) for kind in GRAPHICS]


def upscale_layer(layer: np.ndarray, scale: int) -> np.ndarray:
    """An RGBA (or RGB) layer drawn at LR size, nearest-upscaled ``scale`` x: the same overlay on the HR frame."""
    return np.repeat(np.repeat(layer, scale, axis=0), scale, axis=1)

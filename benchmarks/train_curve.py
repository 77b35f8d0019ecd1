"""Draw a run's training curve (loss and validation Y-PSNR against step) as a PNG, with PIL
only (no matplotlib dependency).

    python benchmarks/train_curve.py runs/t91_edge_s [--bicubic 28.42] [-o curve.png]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 330, 70, 20, 36, 44


def _panel(title: str, xs: list[float], series: list[tuple[list[float], list[float], tuple[int, int, int], str]],
           hlines: list[tuple[float, tuple[int, int, int], str]], x_max: float) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    values = [v for _, ys, _, _ in series for v in ys] + [v for v, _, _ in hlines]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span
    x0, x1, y0, y1 = PAD_L, W - PAD_R, PAD_T, H - PAD_B
    fx = lambda x: x0 + (x1 - x0) * x / (x_max or 1)  # noqa: E731
    fy = lambda y: y1 - (y1 - y0) * (y - lo) / (hi - lo)  # noqa: E731
    d.rectangle([x0, y0, x1, y1], outline="black")
    d.text((x0, 10), title, fill="black", font=font)
    for i in range(6):
        yv = lo + (hi - lo) * i / 5
        d.line([x0 - 4, fy(yv), x0, fy(yv)], fill="black")
        d.text((4, fy(yv) - 6), f"{yv:.4g}", fill="black", font=font)
        xv = x_max * i / 5
        d.line([fx(xv), y1, fx(xv), y1 + 4], fill="black")
        d.text((fx(xv) - 12, y1 + 8), f"{xv:.0f}", fill="black", font=font)
    d.text(((x0 + x1) // 2 - 10, H - 18), "step", fill="black", font=font)
    for value, colour, label in hlines:
        d.line([x0, fy(value), x1, fy(value)], fill=colour, width=1)
        d.text((x1 - 140, fy(value) - 14), label, fill=colour, font=font)
    for k, (sx, sy, colour, label) in enumerate(series):
        pts = [(fx(x), fy(y)) for x, y in zip(sx, sy, strict=True)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for p in pts if len(pts) < 40 else []:
            d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=colour)
        d.text((x0 + 10, y0 + 6 + 14 * k), label, fill=colour, font=font)
    return img


def draw(run: Path, bicubic: float | None, out: Path) -> Path:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    loss_key = "loss" if any("loss" in r for r in rows) else "loss_g"
    train = [(r["step"], r[loss_key]) for r in rows if loss_key in r and math.isfinite(r[loss_key])]
    val = [(r["step"], r["val_psnr"]) for r in rows if "val_psnr" in r]
    x_max = max([s for s, _ in train] + [s for s, _ in val] + [1])
    panels = []
    if train:
        steps, losses = [s for s, _ in train], [v for _, v in train]
        panels.append(_panel(f"{run.name}: training {loss_key} (every logged step)", list(steps),
                             [(list(steps), list(losses), (200, 60, 20), f"train {loss_key}")], [], x_max))
    if val:
        steps, psnr = [s for s, _ in val], [v for _, v in val]
        best = max(psnr)
        hl = [(bicubic, (60, 60, 200), f"bicubic {bicubic:.2f} dB")] if bicubic else []
        panels.append(_panel(f"validation Y-PSNR (dB), last {psnr[-1]:.2f}, best {best:.2f}", list(steps),
                             [(list(steps), list(psnr), (20, 140, 60), "val Y-PSNR")], hl, x_max))
    if not panels:
        raise SystemExit(f"no metrics in {run / 'metrics.jsonl'}")
    canvas = Image.new("RGB", (W, H * len(panels)), "white")
    for i, p in enumerate(panels):
        canvas.paste(p, (0, H * i))
    canvas.save(out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--bicubic", type=float, default=None, help="draw the bicubic baseline (dB)")
    ap.add_argument("-o", "--output", type=Path, default=None)
    a = ap.parse_args()
    print(draw(a.run, a.bicubic, a.output or a.run / "curve.png"))

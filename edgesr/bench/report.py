"""What ``edgesr bench`` writes and shows: a rich table, ``bench.json``, ``bench.csv`` and a PNG bar
chart of fps per row and size (drawn with PIL: matplotlib is not a dependency)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgesr.artifact import atomic_write, write_json
from edgesr.cli.ui import db
from edgesr.machine import machine_line

if TYPE_CHECKING:
    from edgesr.bench.result import BenchResult

CSV_FIELDS = (
    "size", "backend", "precision", "variant", "device", "status", "latency_median_ms", "latency_p95_ms",
    "latency_min_ms", "fps", "gflops", "peak_rss_mib", "rss_delta_mib", "psnr_vs_fp32_db", "speedup_vs_baseline",
    "runs", "warmup", "note",
)
COLOURS = {"pytorch": (238, 76, 44), "onnxruntime": (0, 114, 198), "tensorrt": (118, 185, 0)}


def write_outputs(result: BenchResult, out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "csv": out / "bench.csv", "png": out / "bench.png"}
    data = result.to_dict()
    data["files"] = {k: str(v) for k, v in paths.items()}
    write_json(paths["json"], data)
    _write_csv(paths["csv"], [r.to_dict() for r in result.rows])
    draw_chart(result, paths["png"])
    return data["files"]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_write(path, "bench CSV") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def title(result: BenchResult) -> str:
    m = result.model
    kmac = m["macs_per_output_pixel"] / 1e3
    return f"edgesr bench: {m['describe']}, {m['params'] / 1e6:.3f} M params, {kmac:.1f} kMAC/output px"


def render_table(result: BenchResult) -> Table:
    """Rows that ran (or failed) per input size; rows that cannot run here are in ``not_run``."""
    table = Table(title=f"{title(result)}\n{machine_line(result.machine)}", title_justify="left")
    cols = ("input", "row", "device", "median ms", "p95 ms", "fps", "GFLOP/s", "peak MiB", "PSNR vs FP32",
            f"vs {result.baseline or 'baseline'}")
    for c in cols:
        table.add_column(c, justify="left" if c in ("input", "row", "device") else "right")
    last_size = None
    for r in result.rows:
        if r.status.startswith("not "):
            continue
        size = f"{r.size[0]}x{r.size[1]}"
        if last_size is not None and size != last_size:
            table.add_section()
        shown, last_size = (size if size != last_size else ""), size
        if not r.ok or r.timing is None:
            table.add_row(shown, r.row.label, r.device, "[red]failed[/red]", *[""] * 6)
            continue
        table.add_row(
            shown, r.row.label, r.device, f"{r.timing.median_ms:.1f}", f"{r.timing.p95_ms:.1f}", f"{r.fps:.2f}",
            f"{r.gflops:.1f}" if r.gflops else "", _num(r.peak_rss_mib),
            db(r.psnr_vs_fp32, unit="", inf="identical", none=""),
            f"{r.speedup:.2f}x" if r.speedup else "",
        )
    return table


def not_run(result: BenchResult) -> list[str]:
    """Rows that cannot run here, one line per reason; then failed rows, one line per row and size."""
    reasons: dict[str, list[str]] = {}
    failed: list[str] = []
    for r in result.rows:
        if r.status.startswith("not "):
            labels = reasons.setdefault(r.status, [])
            if r.row.label not in labels:
                labels.append(r.row.label)
        elif not r.ok:
            failed.append(f"{r.row.label} @ {r.size[0]}x{r.size[1]}: {r.status}")
    return [f"{', '.join(labels)}: {status}" for status, labels in reasons.items()] + failed


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.0f}"


def footnotes(result: BenchResult) -> list[str]:
    int8 = dict.fromkeys(f"{r.row.label}: {r.note}" for r in result.rows if r.row.precision == "int8" and r.note)
    return [
        *int8,  # how the INT8 variant was made, with the share of its MACs that run in INT8
        f"PSNR vs FP32: RGB, against {result.reference} on {result.config['input_image']}",
        f"peak MiB: {result.memory_method} (the JSON/CSV also give the increase over the RSS before the row)",
        f"latency: {result.config['warmup']} warm-up + {result.config['runs']} timed runs per row; "
        f"GFLOP/s = 2 x MACs/output px x output px / median latency",
    ]


def log_console() -> Console:
    """A console for scripts: the terminal's width, or 150 columns in logs (rich's default is 80)."""
    console = Console()
    return console if console.is_terminal or "COLUMNS" in os.environ else Console(width=150)


def print_result(result: BenchResult, console: Console) -> None:
    """The table, what did not run and why, how it was measured, and where the files are."""
    console.print(render_table(result))
    for line in not_run(result):
        console.print(escape(line), style="red" if " @ " in line else "dim")
    for line in footnotes(result):
        console.print(escape(line), style="dim")
    files = result.files
    console.print(f"results: {files['json']}, {files['csv']}, chart {files['png']}", highlight=False)
    if result.interrupted:
        console.print("interrupted: the table holds the rows measured before Ctrl-C", style="yellow")


def draw_chart(result: BenchResult, path: Path) -> None:
    """Horizontal bars of fps, one group per input size, coloured by backend."""
    font = ImageFont.load_default()
    rows = [r for r in result.rows if r.ok]
    sizes = list(dict.fromkeys(r.size for r in result.rows))
    bar_h, gap, left, right, top = 18, 6, 260, 150, 64
    height = top + sum(24 + (bar_h + gap) * max(1, sum(r.size == s for r in rows)) for s in sizes) + 30
    width = 1000
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 8), title(result), fill="black", font=font)
    d.text((10, 26), machine_line(result.machine), fill=(80, 80, 80), font=font)
    d.text((10, 44), "frames per second (median latency), higher is better", fill=(80, 80, 80), font=font)
    y = top
    for size in sizes:
        group = [r for r in rows if r.size == size]
        out = f"-> {size[0] * result.model['spec']['scale']}x{size[1] * result.model['spec']['scale']} output"
        d.text((10, y + 4), f"input {size[0]}x{size[1]} {out}", fill="black", font=font)
        y += 24
        best = max((r.fps or 0.0 for r in group), default=0.0) or 1.0
        if not group:
            d.text((left, y), "no row ran at this size", fill=(150, 0, 0), font=font)
            y += bar_h + gap
        for r in group:
            fps = r.fps or 0.0
            d.text((10, y + 3), f"{r.row.label} ({r.device})", fill="black", font=font)
            length = int((width - left - right) * fps / best)
            d.rectangle([left, y, left + max(1, length), y + bar_h], fill=COLOURS.get(r.row.backend, (120, 120, 120)))
            finite = r.psnr_vs_fp32 is not None and math.isfinite(r.psnr_vs_fp32)
            psnr = f", {r.psnr_vs_fp32:.1f} dB vs FP32" if finite else ""
            d.text((left + length + 6, y + 3), f"{fps:.2f} fps{psnr}", fill="black", font=font)
            y += bar_h + gap
    with atomic_write(path, "bench chart") as tmp:
        img.save(tmp, format="PNG")

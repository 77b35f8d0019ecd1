"""``edgesr models``: the shipped models by name (``edgesr.zoo``), and which to use for what."""

from __future__ import annotations

import json

import typer


def models(
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list of objects instead of a table."),
) -> None:
    """List the shipped models: every --model/--checkpoint/--engine option takes one of these names or a path."""
    from edgesr.zoo import SHIPPED

    rows = [m.to_dict() for m in SHIPPED]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="shipped models (edgesr/weights/)")
    table.add_column("name", no_wrap=True, min_width=max(len(r["name"]) for r in rows))
    for col in ("scale", "preset", "trained on", "MACs/pixel", "INT8", "use it for"):
        table.add_column(col, justify="right" if col in ("scale", "MACs/pixel") else "left")
    for r in rows:
        table.add_row(r["name"], f"x{r['scale']}", r["preset"], r["degradation"], f"{r['macs_per_pixel'] / 1e3:.1f} k",
                      "yes" if r["int8_onnx"] else "no", r["use"])
    Console().print(table)

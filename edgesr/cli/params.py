"""Options that more than one command takes, defined once."""

from __future__ import annotations

import typer

CHECKPOINT = typer.Option(
    None, "--checkpoint", "-c", help="Checkpoint (.pt) or a shipped model name (`edgesr models`) [default: edge_s]."
)
DEVICE = typer.Option("auto", help="auto, cpu or cuda.")

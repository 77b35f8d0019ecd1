"""Options that more than one command takes, defined once."""

from __future__ import annotations

import typer

CHECKPOINT = typer.Option(None, "--checkpoint", "-c", help="Checkpoint [default: shipped model].")
DEVICE = typer.Option("auto", help="auto, cpu or cuda.")

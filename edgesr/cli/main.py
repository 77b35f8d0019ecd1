"""Typer app and the one place where errors become one line and an exit code.

Exit codes: 0 ok, 1 error, 2 usage (conflicting flags, bad options), 3 accuracy gate
failed. ``EDGESR_DEBUG=1`` prints the traceback too.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from edgesr.cli import bench_cmd, demo_cmd, export_cmds, info_cmd, stream_cmd, train_cmds
from edgesr.errors import EdgeSRError

app = typer.Typer(
    name="edgesr",
    help="Train, export, build and stream super-resolution models on Jetson and desktop GPUs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("train")(train_cmds.train)
app.command("eval")(train_cmds.evaluate)
app.command("upscale")(train_cmds.upscale)
app.command("export")(export_cmds.export)
app.command("build-engine")(export_cmds.build_engine)
app.command("stream")(stream_cmd.stream)
app.command("bench")(bench_cmd.bench)
app.command("demo")(demo_cmd.demo)
app.command("info")(info_cmd.info)


def _debug() -> bool:
    return os.environ.get("EDGESR_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    """Entry point. Typer/click handle usage errors (exit 2) and ``--help``; an
    ``EdgeSRError`` raised by a command becomes one ``error:`` line and its exit code."""
    try:
        app(args=argv, prog_name="edgesr")
    except EdgeSRError as exc:
        if _debug():
            traceback.print_exc()
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handling
        if _debug():
            traceback.print_exc()
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)

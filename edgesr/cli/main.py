"""Typer app and the one place where errors become one line and an exit code.

Exit codes: 0 ok, 1 error, 2 usage (conflicting flags, bad options), 3 accuracy gate
failed. ``EDGESR_DEBUG=1`` prints the traceback too.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import typer

from edgesr import interrupts
from edgesr.cli import (
    bench_cmd,
    build_engine_cmd,
    demo_cmd,
    eval_cmd,
    export_cmd,
    info_cmd,
    inspect_cmd,
    models_cmd,
    serve_cmd,
    stream_cmd,
    train_cmd,
    upscale_cmd,
)
from edgesr.errors import EdgeSRError, EdgeSRWarning
from edgesr.redact import redact

app = typer.Typer(
    name="edgesr",
    help="Train, export, build and stream super-resolution models on Jetson and desktop GPUs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("train")(train_cmd.train)
app.command("eval")(eval_cmd.evaluate)
app.command("upscale")(upscale_cmd.upscale)
app.command("export")(export_cmd.export)
app.command("build-engine")(build_engine_cmd.build_engine)
app.command("stream")(stream_cmd.stream)
app.command("bench")(bench_cmd.bench)
app.command("demo")(demo_cmd.demo)
app.command("info")(info_cmd.info)
app.command("inspect")(inspect_cmd.inspect)
app.command("models")(models_cmd.models)
app.command("serve")(serve_cmd.serve)


def _debug() -> bool:
    return os.environ.get("EDGESR_DEBUG", "") not in ("", "0")


def _one_line_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """Every warning (edgesr's own and libraries') is one ``warning:`` line; the source is named for
    library warnings. EDGESR_DEBUG=1 keeps Python's usual format."""
    text = " ".join(redact(str(message)).split())
    if not issubclass(category, EdgeSRWarning):
        parts = os.path.normpath(filename).split(os.sep)
        module = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else parts[-1]
        text = f"{module}: {text}"
    print(f"warning: {text[:300]}", file=file or sys.stderr)


def _setup_warnings() -> None:
    if _debug():
        return
    warnings.showwarning = _one_line_warning
    # PIL's DecompressionBombWarning does not say which file: edgesr.imageops warns itself, naming it.
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")


def _caused_by_interrupt(exc: BaseException) -> bool:
    """Typer turns a KeyboardInterrupt inside a command into a silent exit 130; find it in the chain."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _fail(msg: str, code: int) -> None:
    if _debug():
        traceback.print_exc()
    print(f"error: {' '.join(redact(msg).split())}", file=sys.stderr)  # no password on the error line
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point. Typer/click handle usage errors (exit 2) and ``--help``; an
    ``EdgeSRError`` raised by a command becomes one ``error:`` line and its exit code.
    SIGINT ends any command with 130, SIGTERM with 143, after the same cleanup."""
    interrupts.reset()
    old_term = interrupts.install()
    try:
        with warnings.catch_warnings():
            _setup_warnings()
            app(args=argv, prog_name="edgesr")
    except EdgeSRError as exc:
        if interrupts.received():  # a failure caused by the interrupt (a library cut short): report the signal
            _fail(f"interrupted ({interrupts.signal_name()}): {exc}", interrupts.exit_code())
        _fail(str(exc) or type(exc).__name__, exc.exit_code)
    except KeyboardInterrupt:  # before a command took over (typer turns one inside a command into exit 130)
        _fail(f"interrupted ({interrupts.signal_name()})", interrupts.exit_code())
    except OSError as exc:  # a write/read failure no stage turned into an EdgeSRError: still one line
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", 1)
    except SystemExit as exc:
        if exc.code == 130:  # interrupted inside a command: 143 when it was SIGTERM
            if _caused_by_interrupt(exc) and not interrupts.reported():
                print(f"error: interrupted ({interrupts.signal_name()})", file=sys.stderr)
            sys.exit(interrupts.exit_code())
        raise
    finally:
        interrupts.restore(old_term)

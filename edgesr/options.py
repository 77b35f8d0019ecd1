"""One place for numeric and choice option checks, used by every command before any work starts.

Each check names the option and its valid range in one ``UsageError`` line (exit 2). Shape and tile
minimums are defined here, once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from edgesr.errors import UsageError

MIN_SIDE = 8  # smallest LR side (pixels) of any shape option: parity sizes, engine profiles, bench sizes
MIN_TILE = 16  # smallest tile side (LR pixels): smaller tiles are all overlap and take minutes
MAX_SIDE = 16384  # largest side of any shape option (a 16k frame is already 800 MB as float)
SCALES = (2, 3, 4)
DEVICES = ("auto", "cpu", "cuda")


def number(
    value: float | int | None,
    option: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> None:
    """``value`` (if given) must be a finite number with lo <= value <= hi (lo < value when ``lo_open``)."""
    if value is None:
        return
    ok = not (isinstance(value, float) and not math.isfinite(value))
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        raise UsageError(f"{option} must be {_range(lo, hi, lo_open)}, got {value}")


def _range(lo: float | None, hi: float | None, lo_open: bool) -> str:
    g = lambda v: str(int(v)) if float(v).is_integer() else f"{v:g}"  # noqa: E731
    if lo is not None and hi is not None:
        return f"a number in {'(' if lo_open else '['}{g(lo)}, {g(hi)}]"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {g(lo)}"
    if hi is not None:
        return f"<= {g(hi)}"
    return "a finite number"


def choice(value: str | int | None, option: str, allowed: Iterable[str | int]) -> None:
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise UsageError(f"{option} must be one of {', '.join(str(a) for a in allowed)}, got {value}")


def shape(text: str, option: str, minimum: int = MIN_SIDE, square_ok: bool = False) -> tuple[int, int]:
    """'360x640' (or '256' when ``square_ok``) -> (360, 640), each side in [minimum, MAX_SIDE]."""
    t = text.strip().lower()
    try:
        if square_ok and t.isdigit():
            h = w = int(t)
        else:
            h, w = (int(v) for v in t.split("x"))
    except ValueError:
        form = "N or HxW such as 256 or 256x384" if square_ok else "HxW such as 360x640"
        raise UsageError(f"{option} must be {form}, got {text!r}") from None
    if not (minimum <= h <= MAX_SIDE and minimum <= w <= MAX_SIDE):
        raise UsageError(f"{option} sides must be in [{minimum}, {MAX_SIDE}] pixels, got {h}x{w}")
    return h, w

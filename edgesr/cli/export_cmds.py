"""Placeholder: filled in by its stage."""

from edgesr.errors import EdgeSRError


def export() -> None:
    """Not implemented yet."""
    raise EdgeSRError("not implemented yet")


def build_engine() -> None:
    """Not implemented yet."""
    raise EdgeSRError("not implemented yet")

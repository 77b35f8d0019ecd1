"""Placeholder: filled in by its stage."""

from edgesr.errors import EdgeSRError


def demo() -> None:
    """Not implemented yet."""
    raise EdgeSRError("not implemented yet")

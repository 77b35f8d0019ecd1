"""Placeholder: filled in by its stage."""

from edgesr.errors import EdgeSRError


def train() -> None:
    """Not implemented yet."""
    raise EdgeSRError("not implemented yet")


def evaluate() -> None:
    """Not implemented yet."""
    raise EdgeSRError("not implemented yet")


def upscale() -> None:
    """Not implemented yet."""
    raise EdgeSRError("not implemented yet")

"""The PyTriton venv of ``edgesr serve`` (``edgesr.testing.triton_server``) for the tests: they skip with the
reason where it cannot be made (no system Python, no venv module, offline without the wheels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesr.testing import Unavailable, triton_server
from edgesr.testing.triton_server import free_port

__all__ = ["free_port", "pytriton_venv"]


def pytriton_venv() -> Path:
    try:
        return triton_server.pytriton_venv()
    except Unavailable as exc:
        pytest.skip(str(exc))

"""Where the shared test data sets are (``../shared/data``: Set5, Set14, T91, or ``EDGESR_TEST_DATA``).

A module of its own, not conftest: ``from conftest import ...`` can find tests/live/conftest.py instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGESR_TEST_DATA", REPO.parent / "shared" / "data"))


def data_dir(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"test data {path} not present (set EDGESR_TEST_DATA to the folder with Set5/Set14/T91)")
    return path

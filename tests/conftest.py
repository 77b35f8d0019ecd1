"""Shared fixtures. ``../shared/data`` (Set5, Set14, T91) is used where present; tests
that need it skip with a reason elsewhere. The product itself never needs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import DATA, data_dir  # noqa: F401 (a module of its own: tests/live has a conftest too)


@pytest.fixture
def set5() -> Path:
    return data_dir("Set5")


@pytest.fixture
def set14() -> Path:
    return data_dir("Set14")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the sample-image cache per test session, never in the user's home."""
    monkeypatch.setenv("EDGESR_CACHE", str(tmp_path_factory.getbasetemp() / "edgesr-cache"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

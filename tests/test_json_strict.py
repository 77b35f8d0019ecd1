"""What edgesr writes as JSON (reports, sidecars, gate reports) is strict JSON: a NaN or infinite number (a
degenerate check image's Y-PSNR, no checks yet) becomes ``null``, never a bare ``NaN``/``Infinity``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgesr.artifact import write_json


def _strict(text: str) -> object:
    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_null(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"psnr": float("inf"), "mean": np.float64("nan"), "per": [np.float32("-inf"), 31.5],
                      "note": "NaN stays a word in text", "nested": {"x": [float("nan")]}})
    data = _strict(path.read_text())
    assert data == {"psnr": None, "mean": None, "per": [None, 31.5], "note": "NaN stays a word in text",
                    "nested": {"x": [None]}}


def test_finite_json_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"a": 1.25, "b": [1, 2], "c": None})
    assert _strict(path.read_text()) == {"a": 1.25, "b": [1, 2], "c": None}

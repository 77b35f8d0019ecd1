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


def test_the_gate_refuses_flat_check_images(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """All-black check images made the INT8 gate pass trivially (94 dB, Y-PSNR inf): they are skipped, and a
    folder of only such images is one line."""
    import tinymodel
    from export_helpers import cli, one_line_error
    from PIL import Image

    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    check = tmp_path / "check"
    check.mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(check / f"black{i}.png")
    code, _, err = cli(capsys, "build-engine", str(model), "-o", str(tmp_path / "e.engine"), "--backend",
                       "onnxruntime", "--fp16", "--check-data", str(check))
    assert code != 0 and "flat images" in one_line_error(err)
    assert not (tmp_path / "e.engine").exists()

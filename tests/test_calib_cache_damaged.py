"""A damaged or ``{}`` INT8 calibration cache is recomputed, never reused (the sweep's finding 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import cli
from test_engine_build import INT8_CPU, ORT, fp32_onnx  # noqa: F401 - the module's fixture, reused

from edgesr.artifact import read_sidecar
from edgesr.samples import cache_dir


@pytest.mark.parametrize("damage", ["{}", '{"CLS": "TensorsData", "data": {"x": ', "\xff\xfe"])
def test_damaged_calibration_cache_is_recomputed(capsys: pytest.CaptureFixture[str], fp32_onnx: Path,  # noqa: F811
                                                 tmp_path: Path, damage: str) -> None:
    args = [*ORT, "--int8", "--calib-images", "2", "--int8-keep", "none", *INT8_CPU]
    code, out, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "a.engine", *args)
    assert code == 0, err
    key = read_sidecar(tmp_path / "a.engine").build["calibration"]["cache_key"]  # this build's ranges, by name
    cached = cache_dir() / "calibration" / key
    cached.write_bytes(damage.encode("latin-1"))
    code, out, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "b.engine", *args)
    assert code == 0, err
    assert "reused cached ranges" not in out and cached.stat().st_size > 100  # computed and written again


def test_a_corrupt_calibration_image_is_skipped(capsys: pytest.CaptureFixture[str], fp32_onnx: Path,  # noqa: F811
                                                tmp_path: Path) -> None:
    """One unreadable file among the calibration images is skipped and named, as ``train`` skips one."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "calib"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(folder / f"ok{i}.png")
    (folder / "broken.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n not really")
    code, out, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "c.engine", *ORT, "--int8",
                         "--calib-data", folder, "--calib-images", "4", "--int8-keep", "none", *INT8_CPU)
    assert code == 0, err
    assert "broken.png" in err and "skipped" in err

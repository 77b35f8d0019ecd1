"""Calibration images smaller than the crop are skipped and counted, never used at their own size, and the
sidecar and gate report record the crops really used (the sweep's finding 16: one 8x8 image was used as 32
"crops" while the sidecar recorded 32x48)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import SMALL_PROFILE, cli, one_line_error
from PIL import Image

from edgesr.artifact import read_sidecar
from edgesr.errors import EdgeSRWarning
from edgesr.machine import cpu_has_vnni

INT8 = ["--backend", "onnxruntime", *SMALL_PROFILE, "--int8", "--int8-keep", "none", "--calib-images", "4",
        *(["--force"] if cpu_has_vnni() is False else [])]  # no VNNI: 8-bit dot products may saturate (gate)


def png(path: Path, h: int, w: int, seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def onnx_fp32(tmp_path: Path) -> Path:
    return tinymodel.tiny_onnx(tmp_path / "m.onnx")


def test_only_images_smaller_than_the_crop_is_one_line_naming_the_size_needed(
    capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "calib"
    folder.mkdir()
    png(folder / "tiny.png", 8, 8)
    png(folder / "short.png", 16, 200)  # wide enough, not tall enough for 32x48
    code, _, err = cli(capsys, "build-engine", onnx_fp32, "-o", tmp_path / "m.engine", *INT8, "--calib-data", folder)
    line = one_line_error(err)
    assert code != 0 and "no calibration image in calib is at least 32x48" in line
    assert "the largest of 2 is 16x200" in line and "--opt-shape" in line
    assert not (tmp_path / "m.engine").exists()


def test_smaller_images_are_skipped_counted_and_the_record_says_what_was_used(
    capsys: pytest.CaptureFixture[str], onnx_fp32: Path, tmp_path: Path
) -> None:
    from edgesr.export.calibration import CalibrationConfig, calibration_files, crops

    folder = tmp_path / "calib"
    folder.mkdir()
    png(folder / "a_tiny.png", 8, 8)
    png(folder / "b_big.png", 96, 128, seed=1)
    png(folder / "c_narrow.png", 64, 40, seed=2)  # tall enough, 40 < 48 wide
    png(folder / "d_big.png", 72, 96, seed=3)
    engine = tmp_path / "m.engine"
    code, out, err = cli(capsys, "build-engine", onnx_fp32, "-o", engine, *INT8, "--calib-data", folder)
    assert code == 0, err
    warning = " ".join(err.split())
    assert "2 calibration images skipped: smaller than the 32x48 crop (--opt-shape): a_tiny.png (8x8), " \
           "c_narrow.png (64x40); calibrating on the other 2" in warning
    calib = read_sidecar(engine).build["calibration"]
    used = {"b_big.png", "d_big.png"}
    assert used <= set(calib["image_files"]) and not {"a_tiny.png", "c_narrow.png"} & set(calib["image_files"])
    want = {"count": 4, "shape": [32, 48], "photos": 2, "synthetic_frames": 1,
            "skipped_smaller_than_crop": ["a_tiny.png (8x8)", "c_narrow.png (64x40)"], "skipped_unreadable": []}
    assert calib["crops"] == want and calib["shape"] == [32, 48]
    report = json.loads((tmp_path / "m.engine.gate.json").read_text())
    assert report["int8"]["calibration_crops"] == want
    said = "on 4 crops of 32x48 (2 images, 1 synthetic frames; 2 smaller than the crop skipped)"
    assert said in " ".join(out.split())
    # the crops themselves: every one of the recorded shape, from the files recorded
    cfg = CalibrationConfig(data=str(folder), images=4, shape=(32, 48))
    with pytest.warns(EdgeSRWarning, match="2 calibration images skipped"):
        files = calibration_files(cfg)
    assert {f.name for f in files} == set(calib["image_files"])
    assert [x.shape for x in crops(cfg, files)] == [(1, 3, 32, 48)] * 4
    # the same build again reuses the cached ranges, and still records (and says) what was skipped
    code, out, err = cli(capsys, "build-engine", onnx_fp32, "-o", tmp_path / "n.engine", *INT8, "--calib-data", folder)
    assert code == 0, err
    again = read_sidecar(tmp_path / "n.engine").build["calibration"]
    assert again["reused_cache"] and again["crops"] == want and "a_tiny.png (8x8)" in err

"""FP32 reference checks: PSNR equals a direct computation, a busy reference skips (and counts) instead of
queueing, --min-psnr warns, --fail-below fails on the running mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tinymodel

from edgesr.errors import AccuracyGateError
from edgesr.imageops import from_nchw, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner
from edgesr.runtime.check import CheckConfig, ReferenceCheck
from edgesr.runtime.stats import PsnrLog


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, Path]:
    return tinymodel.tiny_onnx(tmp_path / "ref.onnx"), tinymodel.tiny_onnx(tmp_path / "fp16.onnx", fp16_weights=True)


def test_check_psnr_equals_offline_computation(models: tuple[Path, Path]) -> None:
    ref_path, eng_path = models
    lr = tinymodel.test_frames(1, 40, 56)[0]
    sr = from_nchw(open_runner(eng_path).infer(to_nchw(lr)))[0]
    expected = rgb_psnr(sr, from_nchw(open_runner(ref_path).infer(to_nchw(lr)))[0])
    log, warnings = PsnrLog(), []
    check = ReferenceCheck(open_runner(ref_path), CheckConfig(every=5, min_psnr=200.0), log, warnings.append)
    assert check.due(0) and check.due(10) and not check.due(3)
    assert check.offer(10, to_nchw(lr), sr)
    check.close()
    assert log.count == 1 and log.recent[0] == (10, expected)
    assert 50 < expected < 200 and log.below_min == 1 and "frame 10" in warnings[0]


def test_busy_reference_skips_instead_of_queueing(models: tuple[Path, Path]) -> None:
    ref_path, _ = models
    lr = tinymodel.test_frames(1, 200, 300)[0]
    sr = from_nchw(open_runner(ref_path).infer(to_nchw(lr)))[0]
    log = PsnrLog()
    check = ReferenceCheck(open_runner(ref_path), CheckConfig(every=1), log, lambda m: None)
    accepted = [check.offer(i, to_nchw(lr), sr) for i in range(3)]  # back to back: the first is still pending
    check.close()
    assert accepted == [True, False, False]
    assert log.count == 1 and log.skipped_busy == 2 and log.mean == float("inf")


def test_fail_below_trips_on_the_running_mean(models: tuple[Path, Path]) -> None:
    ref_path, eng_path = models
    lr = tinymodel.test_frames(1, 40, 56)[0]
    sr = from_nchw(open_runner(eng_path).infer(to_nchw(lr)))[0]
    log = PsnrLog()
    check = ReferenceCheck(open_runner(ref_path), CheckConfig(every=1, fail_below=200.0), log, lambda m: None)
    check.offer(0, to_nchw(lr), sr)
    check.close()
    assert isinstance(check.failure, AccuracyGateError)
    assert "below --fail-below 200" in str(check.failure)


def test_below_min_names_the_worst_region_on_a_frame_with_an_osd_bar() -> None:
    """A real frame (a built-in photo) with a camera-style OSD bar burnt into its top rows, the shipped INT8
    Q/DQ ONNX against its FP32 ONNX: the warning and the report name the worst tile, and it is on the bar."""
    from PIL import Image, ImageDraw, ImageFont

    from edgesr.imageops import downscale, load_image
    from edgesr.pretrained import WEIGHTS_DIR, default_onnx
    from edgesr.regions import worst_tile
    from edgesr.samples import samples_dir

    lr = downscale(load_image(samples_dir("holdout") / "camera.png")[:256, :384], 4)  # 64 x 96
    im = Image.fromarray(lr)
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 0, 95, 11], fill=(0, 0, 0))
    draw.text((2, 1), "2024-05-17 13:42", fill=(255, 255, 255), font=ImageFont.load_default())
    x = to_nchw(np.asarray(im))
    with open_runner(WEIGHTS_DIR / "edgesr_edge_s_x4.int8.qdq.onnx") as engine:
        sr = from_nchw(engine.infer(x))[0]
    with open_runner(default_onnx()) as ref:
        expected = worst_tile(sr, from_nchw(ref.infer(x))[0])
    log, warnings = PsnrLog(), []
    check = ReferenceCheck(open_runner(default_onnx()), CheckConfig(every=1, min_psnr=200.0), log, warnings.append)
    check.offer(7, x, sr)
    check.close()
    assert expected.y < 12 * 4  # the worst tile is on the bar (its 48 output rows), not in the scene
    assert f"worst region {expected.describe()} of the 384x256 output" in warnings[0]
    assert log.to_dict()["below_min_worst_regions"] == [
        {"frame": 7, "psnr_db": log.to_dict()["values"][0]["psnr_db"],
         "worst_tile": expected.to_dict()}
    ]

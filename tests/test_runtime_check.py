"""FP32 reference checks: PSNR equals a direct computation, a busy reference skips (and counts) instead of
queueing, --min-psnr warns, --fail-below fails on the running mean."""

from __future__ import annotations

from pathlib import Path

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

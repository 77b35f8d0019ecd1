"""The accuracy gate per content class (natural, overlay text, synthetic graphics): each class's mean, worst and
max abs error, a failure that names the class, its worst image and tile. Real runners: the shipped INT8 Q/DQ ONNX
against its FP32 ONNX, on small check frames (fast)."""

from __future__ import annotations

import json

import pytest

from edgesr.export.check_images import gate_check_set
from edgesr.export.gate import GateReport, measure
from edgesr.pretrained import WEIGHTS_DIR, default_onnx
from edgesr.runtime import open_runner
from edgesr.samples import samples_dir

MAX_LR, MIN_LR = (48, 64), (16, 16)


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    pairs, classes, _ = gate_check_set(samples_dir("holdout"), 4, max_lr=MAX_LR, min_lr=MIN_LR)
    with open_runner(WEIGHTS_DIR / "edgesr_edge_s_x4.int8.qdq.onnx") as variant, \
            open_runner(default_onnx(), providers=["cpu"]) as reference:
        return measure(variant, reference, pairs, 4, classes=classes)


def _report(results, min_psnr: float) -> GateReport:  # type: ignore[no-untyped-def]
    return GateReport("int8", "onnxruntime", "m.onnx", "ref.onnx", "built-in", min_psnr, results)


def test_every_class_is_measured_with_mean_worst_and_max_error(results) -> None:  # type: ignore[no-untyped-def]
    report = _report(results, 0.0)
    classes = report.to_dict()["classes"]
    assert list(classes) == ["natural", "overlay_text", "synthetic_graphics"]
    for name, c in classes.items():
        rows = [r for r in results if r.content == name]
        assert c["images"] == len(rows) >= 4
        assert c["worst_psnr_db"] == round(min(r.psnr_vs_fp32 for r in rows), 3) <= c["mean_psnr_db"]
        assert c["max_abs_err"] == max(r.max_abs_err for r in rows) > 0 and c["passed"]
        tile = c["worst_tile"]
        worst = next(r for r in rows if r.name == c["worst_image"])
        assert tile["psnr_db"] <= worst.psnr_vs_fp32  # the worst tile is no better than its image
        assert 0 <= tile["x"] < worst.lr_hw[1] * 4 and 0 <= tile["y"] < worst.lr_hw[0] * 4
    assert report.passed and json.dumps(report.to_dict())


def test_gate_fails_when_one_class_is_below_and_says_where(results) -> None:  # type: ignore[no-untyped-def]
    worst = {c: v["worst_psnr_db"] for c, v in _report(results, 0.0).classes.items()}
    ordered = sorted(worst, key=lambda c: worst[c])
    threshold = (worst[ordered[0]] + worst[ordered[1]]) / 2  # between the worst class and the next
    report = _report(results, threshold)
    assert not report.passed and report.failed_classes == [ordered[0]]
    assert report.to_dict()["failed_classes"] == [ordered[0]] and not report.to_dict()["passed"]
    message = report.failure()
    tile = report.classes[ordered[0]]["worst_tile"]
    assert f"class {ordered[0]}" in message and report.classes[ordered[0]]["worst_image"] in message
    assert f"tile x {tile['x']}-{tile['x'] + tile['w']}, y {tile['y']}-{tile['y'] + tile['h']}" in message
    assert "FAILED" in report.summary()

"""The one comparison (``edgesr.compare``) on real ONNX Runtime outputs: the numbers are the metrics' own,
NaN/Inf outputs are refused, and the stream's live check reports exactly what the gate would compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tinymodel

from edgesr.compare import compare, nonfinite, raw_difference, require_finite
from edgesr.errors import AccuracyGateError
from edgesr.imageops import downscale, from_nchw, to_nchw
from edgesr.metrics import psnr, rgb_psnr, sr_psnr_ssim
from edgesr.runtime import open_runner


def test_compare_is_the_metrics_on_the_deployed_images(tmp_path: Path) -> None:
    ref = open_runner(tinymodel.tiny_onnx(tmp_path / "ref.onnx"))
    eng = open_runner(tinymodel.tiny_onnx(tmp_path / "fp16.onnx", fp16_weights=True))
    hr = tinymodel.test_frames(1, 48, 64)[0]
    x = to_nchw(downscale(hr, ref.spec.scale))
    out, want = eng.infer(x), ref.infer(x)
    c = compare(out, want, hr, ref.spec.scale)
    sr, sr_ref = from_nchw(out)[0], from_nchw(want)[0]
    assert c.psnr_vs_reference == rgb_psnr(sr, sr_ref) and 30 < c.psnr_vs_reference < 200
    assert c.y_psnr_output == sr_psnr_ssim(sr, hr, ref.spec.scale)[0]
    assert c.y_psnr_reference == sr_psnr_ssim(sr_ref, hr, ref.spec.scale)[0]
    assert c.y_drop == pytest.approx(c.y_psnr_reference - c.y_psnr_output)
    assert compare(sr, sr_ref) == compare(out, want)  # images or raw outputs alike; no truth: no Y-PSNR
    assert compare(want, want).psnr_vs_reference == float("inf")
    diff, raw = raw_difference(out, want)
    assert diff == float(np.max(np.abs(out.astype(np.float64) - want))) > 0 and raw == psnr(out, want, 1.0)


def test_nan_and_inf_outputs_are_refused() -> None:
    out = np.zeros((1, 3, 4, 4), np.float32)
    require_finite(out, "fp16 artifact", "a.png")
    out[0, 1, 2, 3], out[0, 0, 0, 0] = np.nan, np.inf
    assert nonfinite(out) == 2
    with pytest.raises(AccuracyGateError, match="fp16 artifact gives 2 NaN/Inf values on a.png"):
        require_finite(out, "fp16 artifact", "a.png")

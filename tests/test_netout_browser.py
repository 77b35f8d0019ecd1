"""The live view in a real browser: headless Chromium (Debian's ``chromium``) opens the page served by
``edgesr stream -o http://...`` and takes a screenshot; image comparison (no eyes) shows the upscaled
frame where the page's layout puts it, and the PSNR banner rendering the PSNR the test computes itself.
Skipped with the reason where Chromium is missing."""

from __future__ import annotations

import html
import io
import json
import os
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from netout_env import Stream, chromium, project_python, screenshot
from PIL import Image

from edgesr.imageops import from_nchw, save_image, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner
from edgesr.runtime.liveview_page import BANNER_CSS, BANNER_PX, FRAME_LEFT, FRAME_TOP

pytestmark = pytest.mark.slow
SIZE = (1000, 460)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


def banner_page(tmp: Path, text: str, state: str) -> str:
    """The banner alone, as the live page styles it: what the PSNR figure must look like."""
    page = tmp / f"banner-{abs(hash(text))}.html"
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8"><style>{BANNER_CSS}</style></head>'
                    f'<body><div id="psnr" class="{state}">{html.escape(text)}</div></body></html>')
    return page.as_uri()


def banner_text(v: float) -> str:
    return f"PSNR vs FP32: last {v:.2f} dB \u00b7 mean {v:.2f} dB \u00b7 worst {v:.2f} dB \u00b7 OK"


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_browser_shows_the_frame_and_the_psnr_check(tmp_path: Path) -> None:
    browser = chromium()
    fp32 = tinymodel.tiny_onnx(tmp_path / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(tmp_path / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(tmp_path / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")
    # a still scene (one image, many frames): every frame and every check is the same, whenever Chromium looks
    lr = tinymodel.test_frames(1, 48, 64)[0]
    folder = tmp_path / "still"
    folder.mkdir()
    save_image(folder / "f00000.png", lr)
    for i in range(1, 1800):
        os.link(folder / "f00000.png", folder / f"f{i:05d}.png")
    with open_runner(engine) as eng, open_runner(fp32) as ref:
        sr = from_nchw(eng.infer(to_nchw(lr)))[0]
        expected_psnr = rgb_psnr(sr, from_nchw(ref.infer(to_nchw(lr)))[0])

    stream = Stream(project_python(), ["--engine", str(engine), "--source", str(folder), "--realtime",
                                       "-o", "http://127.0.0.1:0", "--check-every", "15", "--min-psnr", "30"], tmp_path)
    try:
        base = stream.served_url("http")
        deadline = time.monotonic() + 60
        while json.loads(fetch(base + "stats.json"))["psnr"]["checks"] < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        shot = np.asarray(Image.open(screenshot(browser, base, tmp_path / "live.png", SIZE)).convert("RGB"))
        served = np.asarray(Image.open(io.BytesIO(fetch(base + "frame.jpg"))).convert("RGB"))
        figures = json.loads(fetch(base + "stats.json"))
    finally:
        code, out, err = stream.stop()
    assert code == 130 and "ended: interrupted (Ctrl-C)" in out, err[-2000:]  # Ctrl-C ends it cleanly
    assert "Traceback" not in err
    assert abs(figures["psnr"]["last_db"] - expected_psnr) < 1e-3 and figures["state"] == "ok"

    # the frame: at (FRAME_LEFT, FRAME_TOP), natural size, equal to the served JPEG and to the engine's output
    h, w = sr.shape[:2]
    region = shot[FRAME_TOP : FRAME_TOP + h, FRAME_LEFT : FRAME_LEFT + w]
    assert rgb_psnr(region, served) > 35.0, rgb_psnr(region, served)
    assert rgb_psnr(region, sr) > 30.0
    shifted = shot[FRAME_TOP + 4 : FRAME_TOP + 4 + h, FRAME_LEFT : FRAME_LEFT + w]
    assert rgb_psnr(shifted, served) < rgb_psnr(region, served) - 5  # the comparison can tell where it is

    # the PSNR figure: the banner matches Chromium's own rendering of the value we computed, not a wrong one
    good = np.asarray(Image.open(screenshot(browser, banner_page(tmp_path, banner_text(expected_psnr), "ok"),
                                            tmp_path / "good.png", SIZE)).convert("RGB"))
    wrong = np.asarray(Image.open(screenshot(browser, banner_page(tmp_path, banner_text(expected_psnr + 0.5), "ok"),
                                             tmp_path / "wrong.png", SIZE)).convert("RGB"))
    live_banner, good_banner, wrong_banner = (x[:BANNER_PX] for x in (shot, good, wrong))
    assert (live_banner[..., 1] > live_banner[..., 0] + 30).mean() > 0.5  # the 'ok' green
    assert mad(live_banner, good_banner) < 0.5, mad(live_banner, good_banner)
    assert mad(live_banner, wrong_banner) > 4 * max(mad(live_banner, good_banner), 0.1)

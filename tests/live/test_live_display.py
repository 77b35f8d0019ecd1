"""``-o display`` in a real window: Xvfb, the Debian-Python venv (its OpenCV has a GUI; pip's headless one has
none), a screenshot of the X screen compared with the frame edgesr writes for the same input, and ``q`` in
the window or closing it ends the run cleanly."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from live_helpers import edgesr, gst_has, need, report, start_edgesr, wait_for
from PIL import Image

from edgesr.metrics import psnr

pytestmark = pytest.mark.slow


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A virtual X screen on a free display number (Xvfb picks it: -displayfd)."""
    need(shutil.which("Xvfb") is not None, "Xvfb is not installed (xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            pass_fds=[w], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 20)
        number = os.read(r, 64).decode().strip() if ready else ""
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        os.close(r)
        proc.terminate()
        proc.wait(10)


def _x(display: str, *args: str) -> str:
    out = subprocess.run(list(args), capture_output=True, text=True, env={**os.environ, "DISPLAY": display},
                         timeout=30)
    return out.stdout if out.returncode == 0 else ""


@pytest.mark.parametrize("end", ["q", "close"])
def test_display_window_shows_the_upscaled_frame(jetson_venv: Path, xvfb: str, tmp_path: Path, end: str) -> None:
    need(shutil.which("import") is not None, "imagemagick's import is not installed (imagemagick)")
    need(shutil.which("xdotool") is not None, "xdotool is not installed (xdotool)")
    need(gst_has("filesrc", "pngdec", "imagefreeze", "videoconvert", "appsink"), "GStreamer base plugins missing")
    py = jetson_venv / "bin" / "python"
    png = tmp_path / "in.png"
    Image.fromarray(tinymodel.test_frames(1, 72, 96)[0]).save(png)
    engine = tinymodel.tiny_onnx(tmp_path / "tiny.onnx")
    still = f"filesrc location={png} ! pngdec ! imagefreeze ! videoconvert ! appsink"  # a live source, one image
    args = ["stream", "-e", engine, "--source", still, "--check-every", 0, "-q"]

    wrote = edgesr(*args, "-o", tmp_path / "frames", "--max-frames", 1, python=py)
    assert wrote.returncode == 0, wrote.stderr
    expected = np.asarray(Image.open(tmp_path / "frames" / "000000.png").convert("RGB"))
    assert expected.shape == (288, 384, 3)

    proc = start_edgesr(*args, "-o", "display", "--report", tmp_path / "r.json", python=py, env={"DISPLAY": xvfb})
    try:
        size = "Geometry: 384x288"  # the window is sized to the frame, pixels 1:1
        assert wait_for(lambda: size in _x(xvfb, "xdotool", "search", "--name", "^edgesr$", "getwindowgeometry"), 30), (
            _x(xvfb, "xdotool", "search", "--name", "^edgesr$", "getwindowgeometry"))
        geometry = _x(xvfb, "xdotool", "search", "--name", "^edgesr$", "getwindowgeometry")
        x, y = (int(v) for v in re.search(r"Position: (\d+),(\d+)", geometry).groups())  # type: ignore[union-attr]
        shot_path = tmp_path / "screen.png"
        best = -1.0

        def screenshot_shows_frame() -> bool:
            nonlocal best
            subprocess.run(["import", "-window", "root", str(shot_path)], env={**os.environ, "DISPLAY": xvfb},
                           capture_output=True, timeout=30)
            best = _window_psnr(shot_path, (x, y), expected) if shot_path.exists() else -1.0
            return best > 40

        shown = wait_for(screenshot_shows_frame, 20, every=0.5)
        print(f"\ndisplay screenshot (window at {x},{y}) vs the frame edgesr wrote: PSNR {best:.2f} dB")
        assert shown, f"the screen does not show the frame (PSNR {best:.2f} dB)"

        window = _x(xvfb, "xdotool", "search", "--name", "^edgesr$").split()[0]
        if end == "q":
            _x(xvfb, "xdotool", "key", "--window", window, "q")
        else:
            close_window(xvfb, int(window))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    rep = report(tmp_path / "r.json")
    assert rep["end_reason"] == {"q": "display closed (q pressed)", "close": "display window closed"}[end]
    assert rep["error"] is None
    assert rep["frames_out"] > 0


def _window_psnr(shot_path: Path, position: tuple[int, int], expected: np.ndarray) -> float:
    """PSNR of ``expected`` against the screenshot where the window's top-left corner is."""
    shot = np.asarray(Image.open(shot_path).convert("RGB"))
    (x, y), (h, w) = position, expected.shape[:2]
    return psnr(shot[y : y + h, x : x + w].astype(np.float64), expected.astype(np.float64))


def close_window(display: str, window: int) -> None:
    """Send WM_DELETE_WINDOW, what a window manager's close button does (Xvfb runs none), through libX11."""
    path = ctypes.util.find_library("X11")
    need(path is not None, "libX11 is not installed")
    x11 = ctypes.CDLL(path)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):  # XClientMessageEvent, padded to the size of an XEvent
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]

    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    try:
        ev = ClientMessage(type=33, window=window, format=32)  # 33: ClientMessage
        ev.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        ev.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        assert x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(ev))
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)

"""``edgesr info``: what this machine has, each missing piece said plainly."""

from __future__ import annotations

import importlib
import platform
from pathlib import Path

import typer

from edgesr import __version__


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # a broken install (e.g. pycuda without a driver) is reported, not raised
        return "not installed" if isinstance(exc, ImportError) else f"broken ({type(exc).__name__}: {exc})"
    return str(getattr(mod, "__version__", getattr(mod, "VERSION", "installed")))


def _jetson() -> str | None:
    model = Path("/proc/device-tree/model")
    if not model.exists():
        return None
    text = model.read_text(errors="replace").strip("\x00 \n")
    mode = Path("/etc/nvpmodel.conf")
    if mode.exists():
        text += " (nvpmodel config present; run `sudo nvpmodel -q` for the power mode)"
    return text


def _gpu() -> str:
    try:
        import pycuda.driver as cuda  # noqa: F401

        cuda.init()
        dev = cuda.Device(0)
        major, minor = dev.compute_capability()
        return f"{dev.name()} (compute {major}.{minor})"
    except Exception:
        pass
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    return "none found"


def info() -> None:
    """Versions of edgesr and its backends, the GPU, and the Jetson model if any."""
    rows = [
        ("edgesr", __version__),
        ("python", platform.python_version()),
        ("numpy", _version("numpy")),
        ("torch", _version("torch")),
        ("torchvision", _version("torchvision")),
        ("onnx", _version("onnx")),
        ("onnxruntime", _version("onnxruntime")),
        ("tensorrt", _version("tensorrt")),
        ("pycuda", _version("pycuda")),
        ("opencv", _version("cv2")),
        ("av (PyAV)", _version("av")),
    ]
    try:
        import onnxruntime as ort

        rows.append(("onnxruntime providers", ", ".join(ort.get_available_providers())))
    except ImportError:
        pass
    try:
        import cv2

        import re

        m = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
        rows.append(("opencv GStreamer", m.group(1) if m else "unknown"))
    except ImportError:
        pass
    rows.append(("gpu", _gpu()))
    jetson = _jetson()
    rows.append(("jetson", jetson if jetson else "not a Jetson"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k.ljust(width)}  {v}")

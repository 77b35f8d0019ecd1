"""``edgesr info``: what this machine has, each missing piece said plainly."""

from __future__ import annotations

import platform
from pathlib import Path

import typer

from edgesr import __version__
from edgesr.backends import TABLE as BACKEND_TABLE
from edgesr.backends import default_backend
from edgesr.machine import gpu_name, jetson, module_version


def _opencv_shadowing(cv2_file: str) -> str | None:
    """A warning when the cv2 that imports is a pip OpenCV (opencv-python*, opencv-contrib-python*) while another
    cv2 (the system's, e.g. JetPack's with GStreamer) sits further down sys.path, unreachable."""
    import re
    import sys
    from importlib import metadata

    here = Path(cv2_file)
    loaded = here.parent.resolve() if here.stem == "__init__" else here.resolve()  # a package or a bare .so
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not re.fullmatch(r"opencv(-contrib)?-python(-headless)?", name):
            continue
        if Path(str(dist.locate_file("cv2"))).resolve() != loaded:
            continue
        others = []
        for entry in sys.path:
            folder = Path(entry or ".")
            found = [folder / "cv2"] if (folder / "cv2").is_dir() else []
            found += [*folder.glob("cv2*.so"), *folder.glob("cv2*.pyd")]
            if any(f.resolve() != loaded for f in found):
                others.append(str(folder))
        if others:
            return (
                f"pip's {name} {dist.version} ({here.parent}) shadows the OpenCV in {others[0]} (the system's, with "
                f"GStreamer on a Jetson): `pip uninstall {name}` to use it"
            )
    return None


def info() -> None:
    """Versions of edgesr and its backends, the GPU, and the Jetson model if any."""
    rows = [
        ("edgesr", __version__),
        ("python", platform.python_version()),
        ("numpy", module_version("numpy")),
        ("torch", module_version("torch")),
        ("torchvision", module_version("torchvision")),
        ("onnx", module_version("onnx")),
        ("onnxruntime", module_version("onnxruntime")),
        ("tensorrt", module_version("tensorrt")),
        ("pycuda", module_version("pycuda")),
        ("opencv", module_version("cv2")),
        ("av (PyAV)", module_version("av")),
    ]
    try:
        import onnxruntime as ort

        rows.append(("onnxruntime providers", ", ".join(ort.get_available_providers())))
    except ImportError:
        pass
    try:
        import re

        import cv2

        m = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
        rows.append(("opencv GStreamer", m.group(1) if m else "unknown"))
        rows.append(("opencv path", str(Path(cv2.__file__).parent)))
        shadow = _opencv_shadowing(cv2.__file__)
    except ImportError:
        shadow = None
    rows.append(("gpu", gpu_name()))
    board = jetson()
    rows.append(("jetson", f"{board['model']}, power mode {board['power_mode']}" if board else "not a Jetson"))
    if board:
        from edgesr.runtime.trt_support import jetpack_statement

        rows.append(("jetpack", jetpack_statement() or "unknown"))
    for entry in BACKEND_TABLE:  # the backend table: usable here, or why not; and what edgesr supports
        if entry.runner is None:
            continue
        why = entry.probe()
        rows.append((f"backend {entry.name}", f"usable ({entry.version()})" if why is None else f"not usable: {why}"))
        rows.append(("  supported", entry.supported))
    rows.append(("default backend", default_backend()))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k.ljust(width)}  {v}")
    if shadow:
        typer.echo(f"warning: {shadow}", err=True)

"""GStreamer pipelines as OpenCV sources: which elements a pipeline names, and which of them this machine
lacks (so ``csi://0`` on a machine without NVIDIA's ``nvarguscamerasrc`` says exactly that, in one line).

The check asks ``gst-inspect-1.0 --exists`` (gstreamer1.0-tools; JetPack has it) or, without it, the
GStreamer registry through PyGObject (``gi``); when neither is there it cannot tell and says nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess

_ELEMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def pipeline_elements(pipeline: str) -> list[str]:
    """Element factory names of a ``gst-launch`` style pipeline, in order (caps and ``name.`` pads skipped)."""
    names: list[str] = []
    for part in pipeline.split("!"):
        words = part.strip().strip("()").split()
        if not words:
            continue
        first = words[0]
        if "/" in first or "=" in first or first.endswith(".") or not _ELEMENT.match(first):
            continue  # caps (video/x-raw,...), a property, or a reference to a named element
        if first not in names:
            names.append(first)
    return names


def missing_elements(names: list[str]) -> list[str] | None:
    """The names this machine's GStreamer does not have, or None when there is no way to ask."""
    inspect = shutil.which("gst-inspect-1.0")
    if inspect is not None:
        missing = []
        for name in names:
            try:
                found = subprocess.run([inspect, "--exists", name], capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                return None
            if not found:
                missing.append(name)
        return missing
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError):
        return None
    Gst.init(None)
    return [name for name in names if Gst.ElementFactory.find(name) is None]

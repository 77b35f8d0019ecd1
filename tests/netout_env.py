"""Helpers for the network-output tests (``-o rtsp://``, ``-o http://``): ``edgesr.testing.netclients`` (shared
with the benchmarks), with a skip where something is missing.

``jetson_like_python``: the Jetson-like venv (``jetson_like``: the system Python with its GStreamer bindings
and OpenCV, edgesr's base install) where the system Python has GStreamer's RTSP server; tests skip with the
reason when it cannot be made.

``Stream``: ``edgesr stream`` as a background process; ``served_url`` reads the address it prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgesr.testing import Unavailable, jetson_like, netclients
from edgesr.testing.netclients import Stream, screenshot, stalled_rtsp_client

__all__ = ["Stream", "chromium", "jetson_like_python", "project_python", "screenshot", "stalled_rtsp_client"]


def jetson_like_python() -> Path:
    """The Jetson-like venv's python (``jetson_like``) where the system Python has GStreamer's RTSP server
    bindings, or ``pytest.skip`` with why not."""
    try:
        return jetson_like.jetson_like_rtsp_python()
    except Unavailable as exc:
        pytest.skip(str(exc))


def project_python() -> str:
    return sys.executable


def chromium() -> str:
    """Path of a Chromium/Chrome binary, or ``pytest.skip`` with how to get one."""
    try:
        return netclients.find_chromium()
    except Unavailable as exc:
        pytest.skip(str(exc))

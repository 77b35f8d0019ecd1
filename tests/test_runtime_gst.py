"""GStreamer pipelines: the element names edgesr checks before handing a pipeline to OpenCV, and the check
itself against this machine's real GStreamer registry (skipped where GStreamer is not installed)."""

from __future__ import annotations

import shutil

import pytest

from edgesr.runtime.gst import missing_elements, pipeline_elements
from edgesr.runtime.live import csi_pipeline
from edgesr.runtime.sources import LiveOptions


def test_elements_of_the_csi_pipeline_skip_caps_and_properties() -> None:
    assert pipeline_elements(csi_pipeline(0, LiveOptions())) == ["nvarguscamerasrc", "nvvidconv", "videoconvert",
                                                                 "appsink"]
    tee = "videotestsrc ! tee name=t ! queue ! appsink t. ! queue ! fakesink"
    assert pipeline_elements(tee) == ["videotestsrc", "tee", "queue", "appsink", "fakesink"]


def test_missing_elements_asks_the_real_registry() -> None:
    if shutil.which("gst-inspect-1.0") is None:
        pytest.skip("gst-inspect-1.0 is not installed (gstreamer1.0-tools)")
    assert missing_elements(["videotestsrc", "appsink", "nosuchelement-edgesr"]) == ["nosuchelement-edgesr"]

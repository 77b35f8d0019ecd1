"""The live tests' fixtures (defined in live_helpers.py, with the helpers the tests import)."""

from live_helpers import engine, jetson_venv, rtsp_camera, rtsp_ok  # noqa: F401

"""Helpers shared by the tests (``tests/``) and the benchmarks (``benchmarks/``); no product command uses them.

``tinymodel``: torch-free edgesr ONNX models, ONNX Runtime engines and test videos.
``jetson_like``: a venv of the system Python as on a Jetson (for the network outputs and the live tests).
``netclients``: a background ``edgesr stream``, an RTSP client that never reads, a headless-Chromium screenshot.

Where something is missing (a system Python, GStreamer's bindings, Chromium) they raise ``Unavailable`` with
the reason; the tests turn it into a skip, the benchmarks into a one-line exit.
"""


class Unavailable(Exception):
    """What a helper needs is not on this machine; the message says what and how to get it."""

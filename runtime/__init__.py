"""edgesr.runtime: what runs on the device. numpy, OpenCV, PyAV, ONNX Runtime and
TensorRT + pycuda only: never torch, ``edgesr.train`` or ``edgesr.export``."""

from edgesr.runtime.runner import Runner, open_runner

__all__ = ["Runner", "open_runner"]

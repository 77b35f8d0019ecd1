"""The tests' name for ``edgesr.testing.tinymodel`` (torch-free models, engines and test videos), which the
benchmarks import too: ``import tinymodel`` keeps working in every test."""

from edgesr.testing.tinymodel import ort_engine, srresnet_onnx, test_frames, tiny_onnx, write_video

__all__ = ["ort_engine", "srresnet_onnx", "test_frames", "tiny_onnx", "write_video"]

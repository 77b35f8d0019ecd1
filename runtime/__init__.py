"""edgesr.runtime: what runs on the device. numpy, OpenCV, PyAV, ONNX Runtime and
TensorRT + pycuda only: never torch, ``edgesr.train`` or ``edgesr.export``.

Modules (flat, one job each):

- ``runner`` / ``ort_runner`` / ``trt_runner`` (+ ``trt_compat``): one runner contract for ONNX Runtime
  and TensorRT engines (``open_runner``); ``submit``/``result`` keep two frames in flight on TensorRT.
- ``sources`` (files, image folders, URIs) and ``live`` (OpenCV cameras, CSI, RTSP, GStreamer).
- ``sinks`` (H.264 .mp4 via PyAV, PNG folders, a window, none) and ``audio`` (audio track passthrough);
  ``outputs`` (several ``-o`` at once, network URLs), ``sink_rtsp`` + ``rtsp_server`` (GStreamer RTSP: one
  server per port, a mount per output), ``liveview`` + ``liveview_page`` (the browser live view, stdlib HTTP),
  ``pacing`` (``--realtime`` for files).
- ``tiling``: frames larger than the engine, in overlapping tiles stitched without seams.
- ``check``: PSNR against the FP32 reference, off the hot path.
- ``pipeline`` (threads + bounded queues), ``stats`` (constant-memory percentiles), ``status`` (live
  terminal view), ``compose`` (side-by-side demo), ``stream`` (``run_stream``: ``edgesr stream`` as a function).
"""

from edgesr.runtime.runner import Runner, open_runner

__all__ = ["Runner", "open_runner"]

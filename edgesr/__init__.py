"""edgesr: train, export, build and stream super-resolution models on Jetson and desktop GPUs.

The core package is torch-free: errors, the model spec, numpy image operations and
metrics. Training (``edgesr.train``) owns torch; the runtime (``edgesr.runtime``) runs
on numpy, OpenCV, PyAV, ONNX Runtime and TensorRT only.
"""

from __future__ import annotations

__version__ = "0.1.0"

from edgesr.errors import (  # noqa: E402
    AccuracyGateError,
    BadInputError,
    DeviceError,
    EdgeSRError,
    IncompatibleArtifactError,
    MissingDependencyError,
    UsageError,
)
from edgesr.spec import ModelSpec  # noqa: E402

__all__ = [
    "AccuracyGateError",
    "BadInputError",
    "DeviceError",
    "EdgeSRError",
    "IncompatibleArtifactError",
    "MissingDependencyError",
    "ModelSpec",
    "UsageError",
    "__version__",
]

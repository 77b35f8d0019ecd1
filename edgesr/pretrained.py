"""The pretrained model shipped inside the package (see docs/models.md).

``default_checkpoint()`` (PyTorch weights, for ``upscale``/``export``/``eval``) and
``default_onnx()`` (the exported FP32 ONNX, for torch-free ``stream``/``bench``) are the
defaults when no model is given.
"""

from __future__ import annotations

from pathlib import Path

from edgesr.errors import BadInputError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_NAME = "edgesr_edge_s_x4"


def default_checkpoint() -> Path:
    return _shipped(f"{DEFAULT_NAME}.pt", "--checkpoint")


def default_onnx() -> Path:
    return _shipped(f"{DEFAULT_NAME}.onnx", "--engine/--model")


def _shipped(name: str, flag: str) -> Path:
    path = WEIGHTS_DIR / name
    if not path.is_file():
        raise BadInputError(f"this install has no shipped model ({path.name}); pass {flag} explicitly")
    return path

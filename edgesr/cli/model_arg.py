"""``--model PATH`` of eval and upscale: any model artifact behind the one runner contract.

ONNX files and engines open with ``edgesr.runtime.open_runner`` (no torch); model files (edgesr
checkpoints, imported .pth/.pt/.ckpt/.safetensors, read as weights only) run in PyTorch FP32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from edgesr.artifact import sidecar_path
from edgesr.errors import UsageError

MODEL = typer.Option(
    None, "--model", "-m", "--checkpoint", "-c",
    help="Model: edgesr checkpoint, imported model file (.pth .pt .ckpt .safetensors), ONNX file or engine "
    "[default: shipped model]. --checkpoint is an alias.",
)
MODEL_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


def is_model_file(path: Path) -> bool:
    return path.suffix.lower() in MODEL_FILE_SUFFIXES and not sidecar_path(path).is_file()


def open_model(path: Path, device: str = "cpu", expect_scale: int | None = None) -> Any:
    """A ``Runner`` for ``path`` (closed by the caller)."""
    if is_model_file(path):
        from edgesr.export.model_file import load_any
        from edgesr.export.model_torch import TorchRunner
        from edgesr.train.distributed import pick_device

        return TorchRunner(load_any(path, expect_scale=expect_scale), path, str(pick_device(device)))
    if device not in ("auto", "cpu"):
        raise UsageError(f"--device {device} is for model files; {path.name} runs on its own backend")
    from edgesr.runtime import open_runner

    return open_runner(path, expect_scale=expect_scale)

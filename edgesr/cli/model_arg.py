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
    help="Model: edgesr checkpoint, imported model file (.pth .pt .ckpt .safetensors), ONNX file, engine, "
    "shipped model name (`edgesr models`) or Triton model triton://HOST:PORT/NAME [default: the shipped edge_s]. "
    "--checkpoint is an alias.",
)
MODEL_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


def is_model_file(path: Path) -> bool:
    return path.suffix.lower() in MODEL_FILE_SUFFIXES and not sidecar_path(path).is_file()


def open_model(value: str | Path | None, device: str = "cpu", expect_scale: int | None = None) -> Any:
    """A ``Runner`` for ``--model`` (closed by the caller): a path, a shipped name (``edgesr models``; None: the
    default), or a remote model (``triton://HOST:PORT/MODEL``)."""
    from edgesr.backends import remote
    from edgesr.zoo import resolve

    if isinstance(value, str) and remote(value) is not None:
        return _on_backend(value, device, expect_scale)
    path = resolve(value, "pt", "--model")
    if is_model_file(path):
        from edgesr.export.model_file import load_any
        from edgesr.export.model_torch import TorchRunner
        from edgesr.train.distributed import pick_device

        return TorchRunner(load_any(path, expect_scale=expect_scale), path, str(pick_device(device)))
    return _on_backend(path, device, expect_scale)


def _on_backend(where: str | Path, device: str, expect_scale: int | None) -> Any:
    """An ONNX file, an engine or a remote model: its backend's runner (no torch)."""
    if device not in ("auto", "cpu"):
        raise UsageError(f"--device {device} is for model files; {where} runs on its own backend")
    from edgesr.runtime import open_runner

    return open_runner(where, expect_scale=expect_scale)

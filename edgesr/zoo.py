"""The shipped models, by name: ONE table (``SHIPPED``), and the one place where a ``--model``-like option's value
(a shipped name or a path) becomes a file (``resolve``).

Each shipped model is a set of files in ``edgesr/weights/`` sharing a stem: ``STEM.pt`` (PyTorch weights, for
``upscale``/``export``/``eval``/``demo``), ``STEM.onnx`` (the exported FP32 ONNX, for the torch-free ``stream`` and
``bench``) and, where built, ``STEM.int8.qdq.onnx`` (INT8 Q/DQ, passed ``build-engine``'s accuracy gate). Adding a
model is one line in ``SHIPPED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesr.errors import BadInputError
from edgesr.pretrained import WEIGHTS_DIR
from edgesr.spec import preset as preset_spec


@dataclass(frozen=True)
class ShippedModel:
    name: str  # what --model takes
    stem: str  # file stem in edgesr/weights/
    preset: str
    scale: int
    image_skip: str
    degradation: str  # what it was trained on: "bicubic" (clean downscale) or "real" (camera-like pipeline)
    use: str  # one line: what to use it for

    def path(self, kind: str) -> Path:
        """kind: pt | onnx | int8 (the INT8 Q/DQ ONNX) | auto (pt where torch is installed, else onnx)."""
        if kind == "auto":
            import importlib.util

            kind = "pt" if importlib.util.find_spec("torch") is not None else "onnx"
        suffix = {"pt": ".pt", "onnx": ".onnx", "int8": ".int8.qdq.onnx"}[kind]
        return WEIGHTS_DIR / f"{self.stem}{suffix}"

    def macs_per_pixel(self) -> float:
        return preset_spec(self.preset, self.scale, self.image_skip).macs_per_output_pixel()

    def to_dict(self) -> dict[str, Any]:
        int8 = self.path("int8")
        return {
            "name": self.name, "scale": self.scale, "preset": self.preset, "image_skip": self.image_skip,
            "degradation": self.degradation, "macs_per_pixel": round(self.macs_per_pixel()),
            "onnx": str(self.path("onnx")), "checkpoint": str(self.path("pt")),
            "int8_onnx": str(int8) if int8.is_file() else None, "use": self.use,
        }


SHIPPED: tuple[ShippedModel, ...] = (
    ShippedModel("edge_s", "edgesr_edge_s_x4", "edge_s", 4, "bicubic", "bicubic",
                 "clean input: downscaled photos, renders, screenshots (the default)"),
    ShippedModel("edge_s_camera", "edgesr_edge_s_x4_camera", "edge_s", 4, "bicubic", "real",
                 "camera footage and H.264 streams: sensor noise, blur, JPEG/H.264 artefacts"),
    ShippedModel("edge_q", "edgesr_edge_q_x4", "edge_q", 4, "bicubic", "bicubic",
                 "clean input at half edge_s's compute, all-INT8 (plain stack; 0.2 dB below edge_s on Set5)"),
)
DEFAULT = "edge_s"


def names() -> tuple[str, ...]:
    return tuple(m.name for m in SHIPPED)


def shipped(name: str) -> ShippedModel:
    for m in SHIPPED:
        if m.name == name:
            return m
    raise BadInputError(f"no shipped model named {name!r} (shipped: {', '.join(names())}; see `edgesr models`)")


def resolve(value: str | Path | None, kind: str, option: str) -> Path:
    """The file an option means: ``None`` -> the default model's ``kind`` file; an existing path -> itself; a shipped
    name -> that model's ``kind`` file (pt | onnx | int8 | auto). A missing path that looks like a file (a suffix or
    a folder in it) comes back as is, for the command's own "not found" line; a bare unknown word is one line naming
    the shipped models."""
    if value is not None and Path(value).exists():
        return Path(value)
    name = DEFAULT if value is None else str(value)
    if name not in names() and (Path(name).suffix or len(Path(name).parts) > 1):
        return Path(name)
    if name not in names():
        raise BadInputError(
            f"{option} {value}: no such file, and not a shipped model name ({', '.join(names())}; see `edgesr models`)"
        )
    path = shipped(name).path(kind)
    if not path.is_file():
        raise BadInputError(f"this install lacks the shipped model {name!r} ({path.name}); pass {option} PATH")
    return path

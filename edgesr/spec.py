"""``ModelSpec``: what a model is, carried by every checkpoint, ONNX file and engine.

Every consumer rebuilds the model (or checks an artifact) from the spec instead of
guessing from file names. Presets are plain functions, listed once in ``PRESETS``.

Two kinds of model share it. edgesr's own SRResNet family (``arch='srresnet'``, format 1,
rebuilt by ``edgesr.train.arch`` from preset/blocks/channels) and imported models (any other
``arch``, format 2: a community or custom PyTorch file read by ``edgesr.export.model_file``).
An imported spec carries everything the runtime needs without knowing the architecture:
output channels, the size rule (multiple of N, minimum; the runner pads and crops), whether
half precision is supported, purpose, parameter and MAC counts, and the source file's name
and sha256. Format-1 fields serialise exactly as before, so edgesr's own checkpoints, ONNX
files and sidecars read and write unchanged.

The input/output contract of every edgesr model, stated once here and used by every
stage: NCHW float32 RGB with values in ``input_range`` (default [0, 1]) in, NCHW
float32 RGB in ``output_range`` out; the output is clipped to that range exactly once,
when it is turned back into an image (``edgesr.imageops.from_nchw``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from edgesr.errors import IncompatibleArtifactError, UsageError

SPEC_FORMAT = 2  # 1: srresnet only; 2: imported models (the fields after ``format``)
SUPPORTED_SCALES = (2, 3, 4)  # edgesr's own presets
IMPORT_SCALES = (1, 2, 3, 4, 8)  # imported models
PURPOSES = ("SR", "Restoration")  # image-to-image at the model's scale
IMPORT_TILE_CONTEXT = 16  # LR pixels of context around each tile's kept part for imported models
# Format-2 fields and their defaults (= what an edgesr srresnet is); left out of a format-1 dict.
IMPORT_DEFAULTS: dict[str, Any] = {
    "out_channels": 0, "arch_params": {}, "size_multiple": 1, "min_size": 0, "fixed_tile": None,
    "half": True, "purpose": "SR", "source": {}, "params": 0, "macs_per_px": 0.0, "licence": "",
}
# The image skip adds the upsampled input image to the network's output, so the trunk only
# learns the residual and the image itself never travels through (quantised) feature maps.
IMAGE_SKIPS = ("none", "nearest", "bicubic")
# srresnet: Ledig et al.'s residual trunk with sub-pixel stages. plain: a plain stack of 3x3 conv +
# ReLU at LR resolution, one conv to 3*s*s maps and one depth-to-space (the INT8-friendly edge_q).
ARCHS = ("srresnet", "plain")


@dataclass(frozen=True)
class ModelSpec:
    """A model: the SRResNet family (Ledig et al., 2017; B residual blocks of C maps), with ``arch="plain"``
    a plain stack of B re-parameterisable 3x3 convs of C maps (``edge_q``), or an imported model."""

    preset: str
    scale: int
    blocks: int = 0
    channels: int = 0
    arch: str = "srresnet"
    in_channels: int = 3
    colour: str = "RGB"
    layout: str = "NCHW"
    input_range: tuple[float, float] = (0.0, 1.0)
    output_range: tuple[float, float] = (0.0, 1.0)
    image_skip: str = "none"  # none | nearest | bicubic: output = trunk(x) + upsample(x)
    format: int = 1
    # -- imported models (format 2) -------------------------------------------
    out_channels: int = 0  # 0: same as in_channels
    arch_params: dict[str, Any] = field(default_factory=dict, hash=False)  # as detected from the weights
    size_multiple: int = 1  # H and W must be multiples of this (the runner reflect-pads and crops)
    min_size: int = 0  # H and W at least this (after padding)
    fixed_tile: tuple[int, int] | None = None  # exported at this LR HxW only: the runner tiles every frame
    half: bool = True  # FP16 supported (the FP16 build still measures, and keeps layers FP32 where needed)
    purpose: str = "SR"  # SR | Restoration (scale 1)
    source: dict[str, str] = field(default_factory=dict, hash=False)  # {"file": name, "sha256": hex}
    params: int = 0
    macs_per_px: float = 0.0  # Conv/Linear multiply-adds per output pixel, measured at export
    licence: str = ""  # where the file says

    @property
    def imported(self) -> bool:
        return self.arch not in ARCHS  # edgesr's own architectures are rebuilt from preset/blocks/channels

    @property
    def channels_out(self) -> int:
        return self.out_channels or self.in_channels

    def __post_init__(self) -> None:
        if self.format > SPEC_FORMAT:
            raise IncompatibleArtifactError(
                f"model spec format {self.format} is newer than this edgesr understands ({SPEC_FORMAT}): upgrade edgesr"
            )
        if self.imported:
            self._check_imported()
            return
        if self.scale not in SUPPORTED_SCALES:
            raise UsageError(f"scale {self.scale} is not supported (choose one of {', '.join(map(str, SUPPORTED_SCALES))})")
        if self.blocks < 1 or self.channels < 1:
            raise UsageError(f"blocks and channels must be positive (got {self.blocks}, {self.channels})")
        if self.image_skip not in IMAGE_SKIPS:
            raise UsageError(f"image skip must be one of {', '.join(IMAGE_SKIPS)} (got {self.image_skip!r})")
        if self.image_skip != "none" and self.preset == "srresnet":
            raise UsageError("--image-skip is for the edge presets; the paper's srresnet preset stays as published")

    def _check_imported(self) -> None:
        if self.format < 2:
            raise IncompatibleArtifactError(f"unknown architecture {self.arch!r} in a format-1 spec")
        if self.scale not in IMPORT_SCALES:
            raise IncompatibleArtifactError(
                f"{self.arch} x{self.scale}: scale must be one of {', '.join(map(str, IMPORT_SCALES))}"
            )
        if self.in_channels not in (1, 3) or self.channels_out not in (1, 3):
            raise IncompatibleArtifactError(
                f"{self.arch}: {self.in_channels} -> {self.channels_out} channels; edgesr runs 1- or 3-channel images"
            )
        if self.purpose not in PURPOSES:
            raise IncompatibleArtifactError(
                f"{self.arch}: purpose {self.purpose!r} is not one of {', '.join(PURPOSES)}"
            )
        if self.size_multiple < 1 or self.min_size < 0:
            raise IncompatibleArtifactError(f"{self.arch}: bad size rule {self.size_multiple}/{self.min_size}")

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_range"] = list(self.input_range)
        d["output_range"] = list(self.output_range)
        if not self.imported:  # format 1, exactly as before
            for key in IMPORT_DEFAULTS:
                d.pop(key)
        elif self.fixed_tile is not None:
            d["fixed_tile"] = list(self.fixed_tile)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        try:
            kw = dict(data)
            for key in ("input_range", "output_range"):
                if key in kw:
                    lo, hi = kw[key]
                    kw[key] = (float(lo), float(hi))
            if kw.get("fixed_tile") is not None:
                th, tw = kw["fixed_tile"]
                kw["fixed_tile"] = (int(th), int(tw))
            known = set(cls.__dataclass_fields__)
            unknown = set(kw) - known
            if unknown:
                raise IncompatibleArtifactError(f"model spec has unknown fields {sorted(unknown)}: upgrade edgesr")
            return cls(**kw)
        except (TypeError, ValueError, KeyError) as exc:
            raise IncompatibleArtifactError(f"malformed model spec: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise IncompatibleArtifactError(f"malformed model spec JSON: {exc}") from exc

    # -- derived facts -------------------------------------------------------
    @property
    def upsample_factors(self) -> tuple[int, ...]:
        """Sub-pixel stages: log2(scale) x2 stages, or one x3 stage (plain: one x``scale`` depth-to-space)."""
        if self.arch == "plain":
            return (self.scale,)
        if self.scale == 3:
            return (3,)
        return (2,) * int(math.log2(self.scale))

    def receptive_margin(self) -> int:
        """LR pixels of context one output pixel depends on (each side), rounded up; for an imported model
        (unknown), ``IMPORT_TILE_CONTEXT``: its tiles are stitched with that much context, not bit-exactly."""
        if self.imported:
            return IMPORT_TILE_CONTEXT
        if self.arch == "plain":  # B + 2 3x3 convs at LR; the cubic image skip reads 2 LR pixels each side
            return self.blocks + 2 + 2
        margin = 4 + 2 * self.blocks + 1  # head 9x9, two 3x3 per block, body tail 3x3
        factor = 1
        for f in self.upsample_factors:
            margin += -(-1 // factor)  # a 3x3 conv at the current resolution
            factor *= f
        return margin + -(-4 // factor)  # tail 9x9 at HR

    def describe(self) -> str:
        if self.imported:
            src = f", from {self.source['file']}" if self.source.get("file") else ""
            return f"{self.arch} x{self.scale} ({self.params / 1e6:.2f} M params{src})"
        skip = f", {self.image_skip} image skip" if self.image_skip != "none" else ""
        arch = "plain " if self.arch == "plain" else ""
        return f"{self.preset} x{self.scale} ({arch}B{self.blocks}/C{self.channels}{skip})"

    def num_params(self) -> int:
        """Exact parameter count of the generator ``edgesr.train.arch`` builds from this spec (imports: as counted
        at import)."""
        if self.imported:
            return self.params
        c, cin = self.channels, self.in_channels
        conv = lambda k, i, o: k * k * i * o + o  # noqa: E731
        if self.arch == "plain":  # training form: every 3x3 conv has a parallel 1x1 branch (folded at export)
            rep = lambda i, o: conv(3, i, o) + conv(1, i, o)  # noqa: E731
            return rep(cin, c) + self.blocks * rep(c, c) + rep(c, cin * self.scale**2)
        n = conv(9, cin, c) + 1  # head conv + PReLU (one slope)
        n += self.blocks * (2 * conv(3, c, c) + 2 * 2 * c + 1)  # two conv+BN, one PReLU
        n += conv(3, c, c) + 2 * c  # body tail conv + BN
        n += sum(conv(3, c, c * f * f) + 1 for f in self.upsample_factors)
        n += conv(9, c, cin)
        return n

    def macs_per_output_pixel(self) -> float:
        """Multiply-adds per HR output pixel (BatchNorm folded away, as deployed; imports: measured at import)."""
        if self.imported:
            return self.macs_per_px
        c, cin, s = self.channels, self.in_channels, self.scale
        lr = 1.0 / (s * s)  # fraction of output pixels computed at LR resolution
        skip = 16 * cin if self.image_skip == "bicubic" else 0  # separable 4-tap cubic resize at HR
        if self.arch == "plain":  # 3x3 head, B 3x3 convs, 3x3 conv to cin*s*s maps: all at LR
            return lr * 9 * c * (cin + self.blocks * c + cin * s * s) + skip
        macs = lr * 81 * cin * c
        macs += lr * self.blocks * 2 * 9 * c * c
        macs += lr * 9 * c * c
        res = 1
        for f in self.upsample_factors:
            macs += (res * res) * lr * 9 * c * c * f * f
            res *= f
        return macs + 81 * c * cin + skip


# -- presets: plain functions, one per model ----------------------------------
def srresnet(scale: int = 4, image_skip: str = "none") -> ModelSpec:
    """The paper's SRResNet: 16 blocks, 64 maps (1.55 M params at x4); no image skip (the spec refuses one)."""
    return ModelSpec(preset="srresnet", scale=scale, blocks=16, channels=64, image_skip=image_skip)


def edge_m(scale: int = 4, image_skip: str = "none") -> ModelSpec:
    """Edge, medium: 8 blocks, 64 maps (Jetson Orin / Xavier)."""
    return ModelSpec(preset="edge_m", scale=scale, blocks=8, channels=64, image_skip=image_skip)


def edge_s(scale: int = 4, image_skip: str = "none") -> ModelSpec:
    """Edge, small: 8 blocks, 32 maps (the shipped model; Orin Nano)."""
    return ModelSpec(preset="edge_s", scale=scale, blocks=8, channels=32, image_skip=image_skip)


def edge_xs(scale: int = 4, image_skip: str = "none") -> ModelSpec:
    """Edge, extra small: 4 blocks, 32 maps (Jetson Nano class)."""
    return ModelSpec(preset="edge_xs", scale=scale, blocks=4, channels=32, image_skip=image_skip)


def edge_q(scale: int = 4, image_skip: str = "none") -> ModelSpec:
    """Edge, quantisation-friendly: a plain stack of 3x3 conv + ReLU (48 maps, 10 re-parameterisable
    blocks: 3x3 + 1x1 + identity while training, one 3x3 conv once exported) at LR resolution, one
    3x3 conv to 3*s*s maps, one depth-to-space; 14.3 k MACs per output pixel at x4, all of it
    INT8-able. Use it with an image skip (``--image-skip bicubic``, as shipped, or ``nearest``)."""
    return ModelSpec(preset="edge_q", scale=scale, blocks=10, channels=48, arch="plain", image_skip=image_skip)


PRESETS: dict[str, Callable[..., ModelSpec]] = {
    "srresnet": srresnet,
    "edge_m": edge_m,
    "edge_s": edge_s,
    "edge_xs": edge_xs,
    "edge_q": edge_q,
}


def preset(name: str, scale: int = 4, image_skip: str = "none") -> ModelSpec:
    """Look up a preset by its CLI name (``image_skip``: edge presets only)."""
    try:
        make = PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
    return make(scale, image_skip=image_skip)

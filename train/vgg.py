"""VGG19 feature extractor for the SRGAN content loss (Ledig et al. 2017, section 2.2.2).

``vgg22``: features after the ReLU of conv2_2; ``vgg54``: after the ReLU of conv5_4.
Inputs are RGB in [0, 1], normalised with the ImageNet mean/std; features are rescaled by
1/12.75 as in the paper. Frozen and always in eval mode.

Weights: ``--vgg-weights FILE`` (a torchvision vgg19 state dict, full or features-only),
else torchvision's ``VGG19_Weights.IMAGENET1K_V1`` through its normal download cache.
Never random weights: if neither can be had, one line says how to supply the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from edgesr.errors import BadInputError, IncompatibleArtifactError

# index one past the ReLU in torchvision's vgg19().features
LAYER_END = {"vgg22": 9, "vgg54": 36}
FEATURE_SCALE = 1.0 / 12.75
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    def __init__(self, layer: str = "vgg54", weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if layer not in LAYER_END:
            raise BadInputError(f"unknown VGG layer {layer!r} (choose {', '.join(LAYER_END)})")
        end = LAYER_END[layer]
        features = _vgg19_features(end)
        features.load_state_dict(_features_state(weights, end, features))
        self.features = features.eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.layer = layer

    def train(self, mode: bool = True) -> VGGFeatures:  # frozen: stays in eval mode
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std) * FEATURE_SCALE


VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _vgg19_features(end: int) -> nn.Sequential:
    """The first ``end`` modules of torchvision's ``vgg19().features`` (same indices, so the
    same state-dict keys), without building the 120 M-parameter classifier."""
    layers: list[nn.Module] = []
    cin = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = int(item)
    return nn.Sequential(*layers[:end])


def _features_state(weights: str | os.PathLike[str] | None, end: int, features: nn.Module) -> dict[str, torch.Tensor]:
    raw = _load_file(Path(weights)) if weights is not None else _torchvision_weights()
    state = {k.removeprefix("features."): v for k, v in raw.items() if not k.startswith("classifier.")}
    wanted = set(features.state_dict())
    missing = sorted(wanted - set(state), key=lambda k: int(k.split(".")[0]))
    src = weights if weights is not None else "torchvision's VGG19 weights"
    if missing:
        raise IncompatibleArtifactError(f"{src} is not a vgg19 state dict (missing {', '.join(missing[:3])} ...)")
    bad = [k for k in wanted if tuple(state[k].shape) != tuple(features.state_dict()[k].shape)]
    if bad:
        raise IncompatibleArtifactError(f"{src} is not a vgg19 state dict (shape mismatch at {bad[0]})")
    return {k: state[k] for k in wanted}


def _load_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise BadInputError(f"VGG weights file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        from edgesr.train.checkpoint import torch_load_error

        raise torch_load_error(path, exc, "torch state dict") from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise IncompatibleArtifactError(f"{path} is not a state dict")
    return data


def _torchvision_weights() -> dict[str, torch.Tensor]:
    from torchvision.models import VGG19_Weights

    weights = VGG19_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:  # URLError, socket errors, HTTP errors, ...
        raise BadInputError(
            f"cannot get the VGG19 ImageNet weights for the content loss ({type(exc).__name__}): "
            f"download {weights.url} to {cached} (torchvision's cache, under $TORCH_HOME) "
            "or pass --vgg-weights FILE (a torchvision vgg19 state dict)"
        ) from None

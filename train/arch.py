"""SRResNet generator and SRGAN discriminator (Ledig et al., 2017), small explicit modules.

Generator: 9x9 conv + PReLU; B residual blocks (3x3 conv, BN, PReLU, 3x3 conv, BN, skip);
3x3 conv + BN with the long skip; sub-pixel stages (conv C -> C*r*r, PixelShuffle(r),
PReLU); 9x9 conv to 3 channels. Built from a ``ModelSpec`` and nothing else.

Edge presets may add an image skip (``spec.image_skip``): the input image, upsampled by
nearest-neighbour or bicubic interpolation, is added to the output, so the trunk learns only
the residual (as ABPN, the Mobile AI 2021 quantised-SR winner, does with a repeated input).
The image then never travels through the trunk's feature maps, which is what keeps an INT8
engine of the trunk accurate. The paper's ``srresnet`` preset has none.

``PlainSR`` (``spec.arch == "plain"``, the ``edge_q`` preset) is the Mobile-AI quantised-SR design
(ABPN, XLSR, QuickSRNet): 3x3 conv + ReLU layers at LR resolution, one 3x3 conv to 3*s*s maps, one
PixelShuffle, the image skip. While training, every 3x3 conv is a ``RepConv`` (RepVGG's 3x3 + 1x1 +
identity branches, no BatchNorm); ``deploy_form`` folds each into one 3x3 conv, so the exported
graph is Conv/Relu/DepthToSpace (+ Resize/Add for the skip): ops TensorRT fuses with INT8 convs.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from edgesr.errors import IncompatibleArtifactError
from edgesr.spec import ModelSpec


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class SubPixelUpsample(nn.Module):
    """conv C -> C*r*r, PixelShuffle(r), PReLU (Shi et al., 2016)."""

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * factor * factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class ImageSkip(nn.Module):
    """``upsample(x)`` by the model's scale: exported as one ONNX ``Resize`` (nearest, or cubic
    with PyTorch's a = -0.75 and half-pixel coordinates), which TensorRT >= 8.5 imports."""

    def __init__(self, scale: int, mode: str) -> None:
        super().__init__()
        self.scale, self.mode = scale, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


class SRResNet(nn.Module):
    """Input and output: NCHW float32 RGB in [0, 1] (``edgesr.spec`` contract). Not clipped."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        c = spec.channels
        self.head = nn.Sequential(nn.Conv2d(spec.in_channels, c, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(spec.blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))
        self.upsample = nn.Sequential(*[SubPixelUpsample(c, f) for f in spec.upsample_factors])
        self.tail = nn.Conv2d(c, spec.in_channels, 9, padding=4)
        self.skip = ImageSkip(spec.scale, spec.image_skip) if spec.image_skip != "none" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        out = self.tail(self.upsample(feat))
        return out if self.skip is None else out + self.skip(x)


class RepConv(nn.Module):
    """Training form of one 3x3 conv: ``conv3(x) + conv1(x) (+ x)``, all linear, so ``fused()`` is
    one 3x3 conv with the same function (the identity branch only where in == out channels)."""

    def __init__(self, cin: int, cout: int, identity: bool = False) -> None:
        super().__init__()
        if identity and cin != cout:
            raise ValueError(f"an identity branch needs as many input as output maps ({cin} != {cout})")
        self.conv3 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv1 = nn.Conv2d(cin, cout, 1)
        self.identity = identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(x) + self.conv1(x)
        return y + x if self.identity else y

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        conv = nn.Conv2d(self.conv3.in_channels, self.conv3.out_channels, 3, padding=1)
        weight = self.conv3.weight.detach().clone()
        weight[:, :, 1:2, 1:2] += self.conv1.weight.detach()
        if self.identity:
            weight[:, :, 1, 1] += torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device)
        conv.weight.copy_(weight)
        conv.bias.copy_(self.conv3.bias.detach() + self.conv1.bias.detach())
        return conv.to(weight.device)

    @torch.no_grad()
    def load_fused(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """The inverse of ``fused``: branches whose sum is ``weight``/``bias`` (all in the 3x3)."""
        w = weight.detach().clone()
        if self.identity:
            w[:, :, 1, 1] -= torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        self.conv3.weight.copy_(w)
        self.conv3.bias.copy_(bias)
        self.conv1.weight.zero_()
        self.conv1.bias.zero_()


class PlainSR(nn.Module):
    """``spec.arch == "plain"``: RepConv(3 -> C) + ReLU, B x [RepConv(C -> C, identity) + ReLU],
    RepConv(C -> 3*s*s), PixelShuffle(s), + image skip. Same I/O contract as ``SRResNet``."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        c, cin, s = spec.channels, spec.in_channels, spec.scale
        self.head = nn.Sequential(RepConv(cin, c), nn.ReLU())
        self.body = nn.Sequential(*[m for _ in range(spec.blocks) for m in (RepConv(c, c, identity=True), nn.ReLU())])
        self.tail = RepConv(c, cin * s * s)
        self.shuffle = nn.PixelShuffle(s)
        self.skip = ImageSkip(s, spec.image_skip) if spec.image_skip != "none" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shuffle(self.tail(self.body(self.head(x))))
        return out if self.skip is None else out + self.skip(x)


class Discriminator(nn.Module):
    """The paper's discriminator: 8 3x3 convs, 64 -> 512 maps, stride 2 every second conv,
    BN after all but the first, LeakyReLU(0.2), Dense(1024), LeakyReLU, Dense(1).

    Returns logits (use ``BCEWithLogitsLoss``; the sigmoid is inside the loss). The
    dense layer is sized for ``crop`` x ``crop`` HR inputs (96 by default)."""

    def __init__(self, crop: int = 96, in_channels: int = 3, base: int = 64) -> None:
        super().__init__()
        if crop % 16:
            raise ValueError(f"the discriminator needs an HR crop divisible by 16, got {crop}")
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(8):
            cout = base * 2 ** (i // 2)
            stride = 1 if i % 2 == 0 else 2
            layers.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        self.features = nn.Sequential(*layers)
        side = crop // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * side * side, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )
        self.crop = crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.crop or x.shape[-2] != self.crop:
            raise ValueError(f"discriminator built for {self.crop}x{self.crop} crops, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


Generator = SRResNet | PlainSR


def build_generator(spec: ModelSpec) -> Generator:
    return PlainSR(spec) if spec.arch == "plain" else SRResNet(spec)


def deploy_form(model: Any) -> Any:
    """A copy of the eval-mode generator as exported: every ``RepConv`` folded into one 3x3 conv
    and every BatchNorm into the conv before it (same function, up to float rounding)."""
    folded = copy.deepcopy(model).eval()
    _fuse_repconvs(folded)
    return fold_batchnorm(folded)


def _fuse_repconvs(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, RepConv):
            setattr(module, name, child.fused())
        else:
            _fuse_repconvs(child)


def load_deployed(model: Any, deployed: dict[str, torch.Tensor]) -> None:
    """Set ``model`` (training form) from a state dict of its ``deploy_form`` (e.g. after QAT)."""
    for name, module in model.named_modules():
        if isinstance(module, RepConv):
            module.load_fused(deployed[f"{name}.weight"], deployed[f"{name}.bias"])


def fold_batchnorm(model: Any) -> Any:
    """A copy of the eval-mode SRResNet with every BatchNorm folded into the conv before it."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, ResidualBlock):
            module.conv1 = fuse_conv_bn_eval(module.conv1, module.bn1)
            module.conv2 = fuse_conv_bn_eval(module.conv2, module.bn2)
            module.bn1, module.bn2 = nn.Identity(), nn.Identity()
        elif isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
    left = [name for name, m in folded.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise IncompatibleArtifactError(f"cannot fold BatchNorm layers {left}: not preceded by a convolution")
    return folded

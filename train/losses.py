"""Losses: pixel (L1 / MSE), VGG content loss, adversarial (logits BCE) for G and D."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pixel_loss(kind: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """``l1`` or ``mse`` between SR and HR, in float32 whatever the autocast dtype."""
    sr, hr = sr.float(), hr.float()
    if kind == "l1":
        return F.l1_loss(sr, hr)
    if kind == "mse":
        return F.mse_loss(sr, hr)
    raise ValueError(f"unknown pixel loss {kind!r}")


class ContentLoss(nn.Module):
    """MSE between VGG feature maps of SR and HR (the paper's l_VGG/i.j)."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(hr.float())
        return F.mse_loss(self.features(sr.float()).float(), target.float())


def generator_adv_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(LR)) (the paper's non-saturating form), via logits BCE."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss on real, loss on fake); the discriminator minimises their sum."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real, fake

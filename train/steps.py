"""One optimisation step of each phase.

``srresnet``: pixel loss (L1 or MSE) on the generator.
``qat``: the same pixel loss, averaged over a simulated-INT8 pass and a float pass.
``srgan``: discriminator step (real -> 1, fake -> 0, logits BCE), then generator step with
content loss (VGG22/VGG54 feature MSE, or the pixel loss) + ``adv_weight`` x adversarial loss.
Each returns detached scalar tensors for logging (averaged over processes by the caller).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from edgesr.train.losses import ContentLoss, discriminator_loss, generator_adv_loss, pixel_loss


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[None]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass
class PixelStep:
    generator: nn.Module  # possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    loss: str
    device: torch.device
    amp: torch.dtype | None

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(self.device, self.amp):
            sr = self.generator(lr)
        loss = pixel_loss(self.loss, sr, hr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}


@dataclass
class QatStep:
    """``--phase qat``: the mean of the pixel loss under simulated INT8 and in float (``train/qat.py``)."""

    generator: nn.Module  # the prepared model, possibly DDP-wrapped (the INT8 pass)
    generator_raw: nn.Module  # the plain prepared module (the float pass; its gradients join the same backward)
    optimizer: torch.optim.Optimizer
    loss: str

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        from edgesr.train.qat import float_forward

        loss_int8 = pixel_loss(self.loss, self.generator(lr), hr)
        with float_forward(self.generator_raw):
            loss_float = pixel_loss(self.loss, self.generator_raw(lr), hr)
        loss = 0.5 * (loss_int8 + loss_float)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "loss_int8": loss_int8.detach(), "loss_float": loss_float.detach()}


@dataclass
class GanStep:
    generator: nn.Module  # possibly DDP-wrapped
    discriminator: nn.Module  # possibly DDP-wrapped (used for the D update)
    discriminator_raw: nn.Module  # the plain module (frozen pass in the G update)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    content: ContentLoss | None  # None: pixel content loss
    pixel: str
    adv_weight: float
    device: torch.device
    amp: torch.dtype | None

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(self.device, self.amp):
            sr = self.generator(lr)
        # discriminator: separate forward/backward for real and fake (BN sees one kind at a time)
        _requires_grad(self.discriminator_raw, True)
        self.opt_d.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            real_logits = self.discriminator(hr)
        loss_real, _ = discriminator_loss(real_logits, real_logits)
        loss_real.backward()
        with autocast(self.device, self.amp):
            fake_logits = self.discriminator(sr.detach())
        _, loss_fake = discriminator_loss(fake_logits, fake_logits)
        loss_fake.backward()
        self.opt_d.step()
        # generator
        _requires_grad(self.discriminator_raw, False)
        with autocast(self.device, self.amp):
            fake_for_g = self.discriminator_raw(sr)
        content = self.content(sr, hr) if self.content is not None else pixel_loss(self.pixel, sr, hr)
        adv = generator_adv_loss(fake_for_g)
        loss_g = content + self.adv_weight * adv
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        _requires_grad(self.discriminator_raw, True)
        return {
            "loss_g": loss_g.detach(),
            "content": content.detach(),
            "adv": adv.detach(),
            "loss_d": (loss_real + loss_fake).detach(),
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),
        }


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)

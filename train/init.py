"""Generator initialisation for short training budgets: start as an interpolator.

A freshly initialised SRResNet outputs noise; most of a short CPU run is then spent
learning to reproduce the low frequencies of the input. ``interpolation_init`` sets a
few weights so the untrained network already upsamples the image smoothly (about
bilinear quality), and everything else keeps PyTorch's default random init:

- head 9x9 conv: channels 0-2 copy R, G, B (centre tap 1); PReLU passes values >= 0;
- body tail BatchNorm: gamma 0 on channels 0-2, so the residual body adds nothing to
  them at first (the "zero-init residual" trick of Goyal et al. 2017, per channel);
- each sub-pixel stage: the outputs feeding channels 0-2 after PixelShuffle copy their
  input channel (nearest-neighbour upsampling, the ICNR idea of Aitken et al. 2017);
- tail 9x9 conv: a separable tent filter ([1,2,3,4,3,2,1]/16 for x4, box*box for the
  total factor) smooths the nearest-neighbour image into an interpolation; weights from
  the other channels start at zero (their gradients are not zero, they learn at once).

With an image skip (``spec.image_skip``) the model already is an interpolator: only the tail
is zeroed, so the untrained network outputs exactly the upsampled input, and the trunk keeps
its random init (the image must not be routed through the trunk: see ``arch.ImageSkip``).

The architecture and its state dict are unchanged: only starting values differ.
"""

from __future__ import annotations

import torch

from edgesr.train.arch import PlainSR, SRResNet


def _tent(factor: int) -> torch.Tensor:
    """Box(factor) convolved with box(factor), normalised: length 2*factor - 1."""
    box = torch.ones(factor)
    tent = torch.nn.functional.conv1d(box.view(1, 1, -1), box.view(1, 1, -1), padding=factor - 1).flatten()
    return tent / tent.sum()


@torch.no_grad()
def interpolation_init(model: SRResNet | PlainSR) -> SRResNet | PlainSR:
    if isinstance(model, PlainSR):  # zero tail: the untrained model outputs the image skip (or 0 without one)
        for conv in (model.tail.conv3, model.tail.conv1):
            conv.weight.zero_()
            conv.bias.zero_()
        return model
    if model.spec.image_skip != "none":
        model.tail.weight.zero_()
        model.tail.bias.zero_()
        return model
    rgb = model.spec.in_channels
    head = model.head[0]
    head.weight[:rgb].zero_()
    head.bias[:rgb].zero_()
    centre = head.kernel_size[0] // 2
    for c in range(rgb):
        head.weight[c, c, centre, centre] = 1.0
    bn = model.body_tail[1]
    bn.weight[:rgb].zero_()
    bn.bias[:rgb].zero_()
    for stage in model.upsample:
        conv, f2 = stage.conv, stage.shuffle.upscale_factor ** 2
        k = conv.kernel_size[0] // 2
        for c in range(rgb):
            rows = slice(c * f2, (c + 1) * f2)  # PixelShuffle: channel c*r*r + i*r + j -> (c, i, j)
            conv.weight[rows].zero_()
            conv.bias[rows].zero_()
            conv.weight[rows, c, k, k] = 1.0
    tail = model.tail
    tail.weight.zero_()
    tail.bias.zero_()
    tent = _tent(model.spec.scale)
    size = tail.kernel_size[0]
    if len(tent) > size:  # never for scales <= 5 with a 9x9 tail
        raise ValueError(f"no room for a {len(tent)}-tap tent in a {size}x{size} tail")
    pad = (size - len(tent)) // 2
    kernel = torch.zeros(size, size)
    kernel[pad : pad + len(tent), pad : pad + len(tent)] = torch.outer(tent, tent)
    for c in range(rgb):
        tail.weight[c, c] = kernel
    return model


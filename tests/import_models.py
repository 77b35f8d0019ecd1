"""Small random-init models of community architectures (spandrel's classes), saved as .pth and .safetensors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch


def esrgan() -> torch.nn.Module:
    from spandrel.architectures.ESRGAN import ESRGAN as RRDBNet

    return RRDBNet(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)


def compact(scale: int = 2, feat: int = 8, convs: int = 2) -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact as SRVGGNetCompact

    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=feat, num_conv=convs, upscale=scale)


def span() -> torch.nn.Module:
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2)


def swinir() -> torch.nn.Module:
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(
        upscale=2, in_chans=3, img_size=16, window_size=4, img_range=1.0, depths=[1], embed_dim=8,
        num_heads=[2], mlp_ratio=2.0, upsampler="pixelshuffledirect",
    )


def restore_x1() -> torch.nn.Module:
    """A scale-1 (restoration) Compact net."""
    return compact(scale=1)


def gray() -> torch.nn.Module:
    """A 1-channel (Y) Compact net: the runtime runs RGB frames through it one channel at a time."""
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=2)


def safmn() -> torch.nn.Module:
    """SAFMN (adaptive max pooling to H // 2**i: H and W cannot be dynamic in ONNX), 2 blocks, x2; conv weights
    x0.1 as BasicSR initialises residual nets (at PyTorch's default init two random blocks already reach far)."""
    from spandrel.architectures.SAFMN import SAFMN

    model = SAFMN(dim=8, n_blocks=2, ffn_scale=2.0, upscaling_factor=2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(0.1)
    return model


def fftformer() -> torch.nn.Module:
    """FFTformer (torch.fft.rfft2: no ONNX export at any shape), the smallest configuration."""
    from spandrel.architectures.FFTformer import FFTformer

    return FFTformer(dim=8, num_blocks=[1, 1, 1], num_refinement_blocks=1, ffn_expansion_factor=1)


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "esrgan": esrgan, "compact": compact, "span": span, "swinir": swinir, "x1": restore_x1, "gray": gray,
}


def save(model: torch.nn.Module, path: Path, seed: int = 0) -> Path:
    """Write the state dict as .pth (torch.save) or .safetensors, by ``path``'s suffix."""
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def make(name: str, path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save(MODELS[name]().eval(), path)


def fp16_overflow(scale: int = 2) -> torch.nn.Module:
    """A Compact net whose FP32 function is that of a plain one but whose activations leave the FP16 range:
    the first conv's weights and every bias but the last conv's x1e5, the last conv's weights x1e-5
    (PReLU is positively homogeneous, so every feature map is the plain one x1e5)."""
    model = compact(scale=scale)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        convs[0].weight.mul_(1e5)
        for c in convs[:-1]:
            c.bias.mul_(1e5)
        convs[-1].weight.mul_(1e-5)
    return model

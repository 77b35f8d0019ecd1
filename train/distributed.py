"""Process-group set-up for ``torchrun --nproc_per_node=N -m edgesr train ...`` (DDP).

gloo on CPU, nccl on GPU; rank 0 alone logs and writes. ``GlobalBatchNorm2d`` computes
BatchNorm statistics over the global batch with a differentiable all-reduce that works on
any backend (torch's ``SyncBatchNorm`` is GPU-only), so N processes x batch b train the
same model as one process with batch N x b.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from edgesr.errors import UsageError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if choice == "cuda":
        raise UsageError("--device cuda asked for, but torch sees no CUDA GPU")
    return torch.device("cpu")


def setup(device_choice: str) -> DistContext:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_choice, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        if device.type == "cpu":  # N processes share the cores
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    return DistContext(rank, world, local_rank, device)


def teardown(ctx: DistContext) -> None:
    """Leave the process group. Callers drop their DDP models and optimisers first: with
    gloo a worker can abort at exit otherwise; the ``gc.collect`` makes sure they are gone."""
    gc.collect()
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean of a (detached) tensor over all processes (for logging)."""
    if not ctx.distributed:
        return value
    out = value.detach().clone()
    dist.all_reduce(out)
    return out / ctx.world


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span all processes (same state dict as
    ``nn.BatchNorm2d``). Outside training or without a process group it is plain BN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        xf = x.float()
        count = torch.full((1,), xf.numel() / c, dtype=torch.float32, device=x.device)
        stats = all_reduce(torch.cat([xf.sum(dim=(0, 2, 3)), (xf * xf).sum(dim=(0, 2, 3)), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp_min(1.0), alpha=m)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def globalise_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every ``nn.BatchNorm2d`` for a ``GlobalBatchNorm2d`` holding the same tensors."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            new.load_state_dict(child.state_dict())
            new.to(next(child.parameters(), torch.empty(0)).device)
            setattr(module, name, new)
        else:
            globalise_batchnorm(child)
    return module

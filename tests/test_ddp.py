"""DDP for real: ``torchrun --nproc_per_node=2 -m edgesr train`` on gloo (CPU) against one
process with the same global batch.

Why the comparison is honest: every rank draws the same global batch and trains on its
own half (``PatchSampler.next_batch``); BatchNorm statistics are computed over the global
batch (``GlobalBatchNorm2d``, a differentiable all-reduce); DDP averages the per-rank mean
losses' gradients, which equals the gradient of the global mean. So 2 x batch 2 must follow
the same trajectory as 1 x batch 4: per-step losses and final weights equal to float
tolerance (summation order differs, nothing else).

The runs use ``--weight-init default``: Adam's first step moves every weight by about
+-lr whatever its gradient's size, so an element whose true gradient is ~0 steps on the
sign of rounding noise. With the interpolation init (many zero-initialised weights) that
happens to a handful of elements (measured: 7 elements 2*lr apart after one step, losses
~3e-4 relative apart by step 3); with the default init the trajectories agree to ~1e-7 on AVX2 kernels.

CPU dependence, stated: the runs pin ``--amp off`` (fp32), yet on AVX-512 CPUs oneDNN sums
a per-rank batch of 2 and a batch of 4 in different orders, and Adam's first step turns
that rounding noise into +-lr steps for the ~0.1% of weights whose gradient is below it
(measured here, Sapphire-Rapids-class CPU: ~150 elements 2*lr apart after step 1, losses
2.6e-4 relative apart at step 3; the same runs with ``ONEDNN_MAX_CPU_ISA=AVX2``: 1e-7).
So the step-1 loss (one forward, before any update) is compared at float tolerance, and
later steps by what that mechanism allows: only a small fraction of a tensor's elements
more than lr apart (a missing gradient all-reduce moves most of them), losses 2e-3.

``--amp auto`` picks bf16 on CPUs with native bf16 (``cpu_has_native_bf16``): one test runs
that path on purpose where the CPU has it; another forces the bf16 branch anywhere by
giving the CPU-feature probe a cpuinfo that says so."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import TINY, cli_args, image_folder

from edgesr import machine
from edgesr.machine import cpu_has_native_bf16
from edgesr.train import schedule
from edgesr.train.arch import build_generator
from edgesr.train.checkpoint import load_checkpoint

RUN = {**TINY, "steps": 3, "save_every": 100, "sample_every": 100, "weight_init": "default", "amp": "off"}
LR = 1e-3  # the fast schedule's Adam lr; cosine decay only lowers it
BF16_EPS = 2.0**-8  # bfloat16 keeps 8 significant bits


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def _train(
    prefix: list[str], out: Path, data: Path, batch: int, amp: str = "off"
) -> subprocess.CompletedProcess[str]:
    args = cli_args({**RUN, "batch": batch, "amp": amp})
    cmd = [*prefix, "-m", "edgesr", "train", *args, "--data", str(data), "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_the_global_batch(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "data", n=4)
    ddp = _train(TORCHRUN, tmp_path / "ddp", data, batch=2)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "terminate called" not in ddp.stderr
    single = _train([sys.executable], tmp_path / "single", data, batch=4)
    assert single.returncode == 0, single.stderr[-3000:]

    l_ddp, l_single = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert len(l_ddp) == len(l_single) == 3
    assert l_ddp[0] == pytest.approx(l_single[0], rel=1e-6)  # the same forward pass: global batch, global BN
    assert l_ddp[1:] == pytest.approx(l_single[1:], rel=2e-3)  # + Adam's +-lr steps on rounding noise (docstring)
    assert len(set(l_single)) == 3  # the weights really moved between steps

    a = load_checkpoint(tmp_path / "ddp" / "last.pt")
    b = load_checkpoint(tmp_path / "single" / "last.pt")
    assert a["step"] == b["step"] == 3
    assert a["config"]["batch"] == 2 and b["config"]["batch"] == 4
    # A conv bias followed by BatchNorm has an exactly zero true gradient (BN subtracts it
    # again), so Adam moves it on rounding noise, and BN running means inherit that: they are
    # compared through the function instead (train-mode output, where BN cancels them).
    cancelled = {k for k in b["generator"] if k.endswith(("conv1.bias", "conv2.bias", "running_mean"))}
    cancelled |= {"body_tail.0.bias"}
    cancelled |= {k for k in b["generator"] if k.endswith("running_var")}  # batch statistics, as running_mean
    # A weight whose gradient is below rounding noise can step the other way (2*lr apart after
    # one step); only a few may: measured at most 0.14% of a tensor's elements more than lr apart
    # (AVX-512), none on AVX2. A missing or wrong gradient all-reduce moves most of them.
    for k, v in b["generator"].items():
        if k not in cancelled and v.is_floating_point():
            apart = float(((a["generator"][k].float() - v.float()).abs() > LR).float().mean())
            assert apart < 0.01, f"{k}: {apart:.2%} of the elements are more than lr apart"
    ga, gb = build_generator(a["spec"]), build_generator(b["spec"])
    ga.load_state_dict(a["generator"])
    gb.load_state_dict(b["generator"])
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ya, yb = ga.train()(x), gb.train()(x)
    rel = float((ya - yb).norm() / yb.norm())
    assert rel < 1e-2, f"train-mode outputs {rel:.1e} apart (measured 1.7e-3 on AVX-512, ~1e-7 on AVX2)"
    # only rank 0 wrote: one config, one metrics line per step, no stray files
    names = lambda run: sorted(p.name for p in run.iterdir())  # noqa: E731
    assert names(tmp_path / "ddp") == names(tmp_path / "single")


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (avx512_bf16/amx_bf16)")
def test_amp_auto_trains_in_bf16_on_a_bf16_cpu_with_ddp_and_single_process_alike(tmp_path: Path) -> None:
    """The path ``--amp auto`` takes on Zen 4 / Sapphire Rapids and newer, on purpose."""
    data = image_folder(tmp_path / "data", n=4)
    ddp = _train(TORCHRUN, tmp_path / "ddp", data, batch=2, amp="auto")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = _train([sys.executable], tmp_path / "single", data, batch=4, amp="auto")
    assert single.returncode == 0, single.stderr[-3000:]
    assert "amp torch.bfloat16" in single.stdout + single.stderr  # auto resolved to bf16 here
    l_ddp, l_single = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert len(l_ddp) == len(l_single) == 3 and all(math.isfinite(v) for v in l_ddp + l_single)
    # bf16 rounding of activations (8 significant bits) differs with the per-rank batch's kernels
    assert l_ddp == pytest.approx(l_single, rel=4 * BF16_EPS)


def test_amp_auto_resolves_from_the_cpu_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both branches of ``--amp auto`` on any CPU: the probe reads a cpuinfo written here."""
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo)
    cpu = torch.device("cpu")
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile\n")
    assert machine.cpu_has_native_bf16() and schedule.autocast_dtype("auto", cpu) == torch.bfloat16
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert not machine.cpu_has_native_bf16() and schedule.autocast_dtype("auto", cpu) is None
    assert schedule.autocast_dtype("bf16", cpu) == torch.bfloat16 and schedule.autocast_dtype("off", cpu) is None
    cpuinfo.unlink()  # unreadable: no bf16
    assert schedule.autocast_dtype("auto", cpu) is None


def test_forced_bf16_branch_trains_close_to_fp32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where no bf16 CPU is at hand: make the probe say bf16, train with ``--amp auto`` (bf16 autocast,
    emulated if need be) and with ``--amp off``; losses finite and within bf16's precision of fp32."""
    from export_helpers import cli

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu avx512_bf16\n")
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo)
    data = image_folder(tmp_path / "data", n=4)
    runs = {}
    for amp in ("auto", "off"):
        out = tmp_path / amp
        code, stdout, stderr = cli(capsys, "train", *cli_args({**RUN, "batch": 4, "amp": amp}), "--data", data,
                                   "--out", out)
        assert code == 0, stderr
        assert (f"amp {'torch.bfloat16' if amp == 'auto' else 'off'}") in " ".join((stdout + stderr).split())
        runs[amp] = _losses(out)
    assert len(runs["auto"]) == 3 and all(math.isfinite(v) for v in runs["auto"])
    assert runs["auto"] != runs["off"]  # bf16 really ran
    # per-element rounding of 2^-8 relative, averaged over a loss of thousands of elements and
    # carried through 3 Adam steps: 4 eps bounds it with margin (measured here: 9e-4 relative at most)
    assert runs["auto"] == pytest.approx(runs["off"], rel=4 * BF16_EPS)

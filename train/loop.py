"""The training run: set-up, the step loop, validation, checkpoints, interrupts.

``run_training`` is what ``edgesr train`` calls (also under ``torchrun``). A run directory
holds ``config.json``, ``metrics.jsonl``, ``last.pt`` (every ``save_every`` steps and at
the end), ``best.pt`` (best validation PSNR, with ``--val``), ``samples/step_*.png`` and
``tb/`` (TensorBoard, when installed). Ctrl-C / SIGTERM finish the current step, write
``last.pt`` and say how to resume; ``--resume`` continues exactly.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from edgesr import interrupts
from edgesr.errors import BadInputError, IncompatibleArtifactError
from edgesr.metrics import min_eval_lr
from edgesr.pairs import ImagePair
from edgesr.spec import ModelSpec, preset
from edgesr.train import distributed as D
from edgesr.train.arch import Discriminator, build_generator
from edgesr.train.checkpoint import load_checkpoint, save_checkpoint
from edgesr.train.config import RunConfig
from edgesr.train.data import PatchSampler, default_train_dir, load_pairs
from edgesr.train.degrade_real import RealDegradation, degrade_pairs
from edgesr.train.evaluate import evaluate_pairs
from edgesr.train.infer import upscale_image
from edgesr.train.init import interpolation_init
from edgesr.train.monitor import Monitor
from edgesr.train.prefetch import BatchFeed
from edgesr.train.preview import preview_patch, write_grid
from edgesr.train.run_dir import clear_run_dir, drop_metrics_after, lock_run_dir, resolve_config
from edgesr.train.schedule import autocast_dtype, lr_at, set_lr
from edgesr.train.steps import GanStep, PixelStep, QatStep


def _degradation(cfg: RunConfig) -> RealDegradation | None:
    return RealDegradation.from_table(cfg.degradation_params) if cfg.degradation == "real" else None


class _StopRequest:
    """Ctrl-C / SIGTERM: stop at the next step boundary and write last.pt; a second Ctrl-C aborts."""

    requested = False

    def set(self, signum: int) -> None:
        self.requested = True

    def again(self, signum: int) -> None:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    step: int
    finished: bool  # False: stopped early (Ctrl-C, SIGTERM, stop_at); resume to continue
    best_psnr: float | None
    last_checkpoint: Path


def run_training(
    overrides: dict[str, Any],
    config_file: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
    stop_at: int | None = None,
) -> RunResult:
    """Train (or resume) a run. ``overrides``: TrainConfig fields given on the command line
    (None = not given). ``stop_at``: stop after that step as if interrupted (for tests)."""
    cfg, ckpt = resolve_config(overrides, config_file, resume, overwrite)
    console = console or Console(stderr=True)
    ctx = D.setup(cfg.device)
    lock = None
    try:
        lock = lock_run_dir(Path(cfg.out)) if ctx.is_main else None  # one train per run directory
        trainer = _Trainer(cfg, ctx, console, ckpt, overwrite)
        try:
            return trainer.fit(stop_at)
        finally:
            trainer.release()  # DDP models/optimisers gone before the process group goes
            del trainer
    finally:
        if lock is not None:
            os.close(lock)
        D.teardown(ctx)


class _Trainer:
    def __init__(self, cfg: RunConfig, ctx: D.DistContext, console: Console, ckpt: dict[str, Any] | None,
                 overwrite: bool) -> None:
        self.cfg, self.ctx, self.console = cfg, ctx, console
        self.run_dir = Path(cfg.out)
        warn = console.print if ctx.is_main else (lambda msg: None)
        torch.manual_seed(cfg.seed)
        self.spec: ModelSpec = preset(cfg.preset, cfg.scale, cfg.image_skip)
        data_dir = cfg.data or default_train_dir()
        say = lambda m: warn(f"[yellow]warning:[/] {m}")  # noqa: E731
        self.pairs = load_pairs(data_dir, cfg.scale, min_lr=cfg.crop // cfg.scale, warn=say)
        self.val_pairs: list[ImagePair] = (
            load_pairs(cfg.val, cfg.scale, min_lr=min_eval_lr(cfg.scale), warn=say, role="validation")
            if cfg.val else []
        )
        self.degradation = _degradation(cfg)
        if self.degradation is not None and self.val_pairs:
            self.val_pairs = degrade_pairs(self.val_pairs, cfg.scale, self.degradation, cfg.seed)
        self.sampler = PatchSampler(self.pairs, cfg.scale, cfg.crop, cfg.seed, self.degradation)
        self.feed: BatchFeed | None = None  # made in fit(), after a resume restored the sampler
        self.preview = preview_patch((self.val_pairs or self.pairs)[0], cfg.scale)
        self.amp = None if cfg.phase == "qat" else autocast_dtype(cfg.amp, ctx.device)  # qat: exact fp32 rounding

        self.g = build_generator(self.spec)
        if cfg.phase == "qat":
            self.g = self._qat_generator(ckpt)
        elif cfg.init and ckpt is None:
            self._init_from(cfg.init)
        elif cfg.weight_init == "interp":
            interpolation_init(self.g)
        self.d = Discriminator(cfg.crop) if cfg.phase == "srgan" else None
        if ctx.distributed and cfg.sync_bn:
            D.globalise_batchnorm(self.g)
            if self.d is not None:
                D.globalise_batchnorm(self.d)
        self.g.to(ctx.device).train()
        if self.d is not None:
            self.d.to(ctx.device).train()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=(0.9, 0.999)) if self.d else None

        self.step, self.elapsed, self.best_psnr = 0, 0.0, None
        if ckpt is not None:
            self._restore(ckpt)
        self.g_run: torch.nn.Module = self._wrap(self.g)
        self.d_run: torch.nn.Module | None = self._wrap(self.d) if self.d is not None else None
        self.step_fn = self._make_step()
        if ctx.is_main:
            if ckpt is None and overwrite:
                clear_run_dir(self.run_dir)
            if ckpt is not None:
                drop_metrics_after(self.run_dir / "metrics.jsonl", self.step)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.run_dir)
            where = f"{ctx.world} processes x " if ctx.distributed else ""
            sources = ", ".join(map(str, data_dir)) if isinstance(data_dir, list) else data_dir
            console.print(
                f"edgesr train: {cfg.phase} {self.spec.describe()}, {self.spec.num_params() / 1e6:.3f} M params, "
                f"{len(self.pairs)} images from {sources}, {where}batch {cfg.batch}, crop {cfg.crop}, "
                f"{cfg.loss} lr {cfg.lr:g} {cfg.decay}, amp {self.amp or 'off'}, device {ctx.device} -> {self.run_dir}"
            )

    # -- set-up helpers -----------------------------------------------------------
    def _init_from(self, path: str) -> None:
        data = load_checkpoint(path)
        spec: ModelSpec = data["spec"]
        if spec != self.spec:
            raise IncompatibleArtifactError(
                f"--init {path} holds {spec.describe()}, but this run trains {self.spec.describe()} "
                f"(leave out --preset/--scale/--image-skip to train the checkpoint's own model)"
            )
        try:
            self.g.load_state_dict(data["generator"])
        except RuntimeError as exc:  # missing keys, wrong shapes: the weights contradict the spec
            first = str(exc).strip().splitlines()[0][:160]
            raise IncompatibleArtifactError(
                f"--init {path}: its weights do not fit its own spec {spec.describe()} ({first})"
            ) from None

    def _qat_generator(self, ckpt: dict[str, Any] | None) -> torch.nn.Module:
        """The BN-folded generator with INT8 fake quantisation: from ``--init`` and calibrated on
        training crops (a fresh run), or as saved in ``last.pt`` with its ranges (a resume)."""
        from edgesr.train import qat

        if ckpt is not None:
            try:
                return qat.restore(self.spec, ckpt["generator"], ckpt["qat"]["amax"])
            except (KeyError, TypeError, RuntimeError) as exc:
                raise IncompatibleArtifactError(
                    f"last.pt cannot be resumed: its QAT state is missing or malformed ({type(exc).__name__})"
                ) from None
        assert self.cfg.init is not None  # RunConfig.resolved() requires it for qat
        self._init_from(self.cfg.init)
        prepared = qat.prepare(self.g)
        crops = PatchSampler(self.pairs, self.cfg.scale, self.cfg.crop, self.cfg.seed + 1, self.degradation)
        batches = (torch.from_numpy(crops.next_batch(self.cfg.batch)[0]) for _ in range(qat.CALIB_BATCHES))
        qat.calibrate(prepared, batches)
        return prepared

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.ctx.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _make_step(self) -> PixelStep | QatStep | GanStep:
        cfg = self.cfg
        if cfg.phase == "qat":
            return QatStep(self.g_run, self.g, self.opt_g, cfg.loss)
        if self.d is None or self.d_run is None or self.opt_d is None:
            return PixelStep(self.g_run, self.opt_g, cfg.loss, self.ctx.device, self.amp)
        content = None
        if cfg.content != "pixel":
            from edgesr.train.losses import ContentLoss
            from edgesr.train.vgg import VGGFeatures

            content = ContentLoss(VGGFeatures(cfg.content, cfg.vgg_weights)).to(self.ctx.device)
        return GanStep(self.g_run, self.d_run, self.d, self.opt_g, self.opt_d, content, cfg.loss,
                       cfg.adv_weight, self.ctx.device, self.amp)

    # -- state --------------------------------------------------------------------
    def _restore(self, ckpt: dict[str, Any]) -> None:
        if ckpt["spec"] != self.spec:
            raise IncompatibleArtifactError(
                f"last.pt holds {ckpt['spec'].describe()}, the run config says {self.spec.describe()}"
            )
        try:  # a tampered last.pt (shapes, optimiser state, RNG state) is one line, not a traceback
            if self.cfg.phase != "qat":  # qat: restored with its ranges by _qat_generator
                self.g.load_state_dict(ckpt["generator"])
            self.opt_g.load_state_dict(ckpt["optim_g"])
            if self.d is not None and self.opt_d is not None:
                self.d.load_state_dict(ckpt["discriminator"])
                self.opt_d.load_state_dict(ckpt["optim_d"])
            self.step = int(ckpt["step"])
            self.elapsed = float(ckpt["sched_g"]["elapsed"])
            self.best_psnr = ckpt.get("best_psnr")
            self.sampler.set_state(ckpt["rng"]["sampler"])
            torch.set_rng_state(ckpt["rng"]["torch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise IncompatibleArtifactError(f"last.pt cannot be resumed: {type(exc).__name__}: {first}") from None

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "spec": self.spec,
            "phase": self.cfg.phase,
            "step": self.step,
            "generator": self._generator_state(),
            "optim_g": self.opt_g.state_dict(),
            "sched_g": {"progress": self._progress(), "elapsed": self.elapsed},
            "config": self.cfg.to_dict(),
            "rng": {"sampler": (self.feed or self.sampler).state(), "torch": torch.get_rng_state()},
            "best_psnr": self.best_psnr,
        }
        if self.cfg.phase == "qat":
            from edgesr.train import qat

            state["qat"] = {"amax": qat.amax_of(self.g), "percentile": qat.PERCENTILE}
        if self.d is not None and self.opt_d is not None:
            state["discriminator"] = self.d.state_dict()
            state["optim_d"] = self.opt_d.state_dict()
            state["sched_d"] = state["sched_g"]
        return state

    def _generator_state(self) -> dict[str, Any]:
        """The generator in its spec's form (qat: convs as trained, BatchNorm the identity)."""
        if self.cfg.phase != "qat":
            return self.g.state_dict()
        from edgesr.train import qat

        return qat.spec_state_dict(self.g, self.spec)

    def _progress(self) -> float:
        p = self.step / self.cfg.steps
        if self.cfg.time_budget_min:
            p = max(p, self.elapsed / (60.0 * self.cfg.time_budget_min))
        return min(p, 1.0)

    def release(self) -> None:
        if getattr(self, "feed", None) is not None:
            self.feed.close()  # type: ignore[union-attr]
        for name in ("step_fn", "g_run", "d_run", "opt_g", "opt_d", "g", "d"):
            if hasattr(self, name):
                delattr(self, name)

    # -- the loop -----------------------------------------------------------------
    def fit(self, stop_at: int | None) -> RunResult:
        cfg, ctx = self.cfg, self.ctx
        stopped = False
        monitor = Monitor(self.run_dir, cfg.steps, self.step, self.console, cfg.log_every) if ctx.is_main else None
        flag = _StopRequest()
        self.feed = BatchFeed(self.sampler, cfg.batch, ctx.rank, ctx.world, cfg.data_workers)
        with interrupts.graceful(flag.set, flag.again), (monitor or contextlib.nullcontext()):
            t_prev = time.perf_counter()
            while self._progress() < 1.0:
                lr = lr_at(self._progress(), cfg.lr, cfg.decay)
                set_lr(self.opt_g, lr)
                if self.opt_d is not None:
                    set_lr(self.opt_d, lr)
                lr_np, hr_np = self.feed.next_batch()
                values = self.step_fn(torch.from_numpy(lr_np).to(ctx.device), torch.from_numpy(hr_np).to(ctx.device))
                self.step += 1
                now = time.perf_counter()  # wall time, validation and checkpoints included
                self.elapsed, t_prev = self.elapsed + now - t_prev, now
                stop = flag.requested or (stop_at is not None and self.step >= stop_at)
                stop, self.elapsed = self._agree(stop, self.elapsed)
                final = self._progress() >= 1.0 or stop
                if self.step % cfg.log_every == 0 or final:
                    logged = {k: float(D.all_mean(v, ctx)) for k, v in values.items()}
                    if not all(math.isfinite(v) for v in logged.values()):  # diverged: never save or go on
                        raise BadInputError(
                            f"the loss is no longer finite at step {self.step}: the run diverged (lower --lr); "
                            "the last checkpoint written before it is kept"
                        )
                    if monitor is not None:
                        monitor.step(self.step, {**logged, "lr": lr}, force=final)
                elif monitor is not None:
                    monitor.progress.update(monitor.task, completed=self.step)
                if ctx.is_main:
                    self._periodic(monitor)
                if stop and self._progress() < 1.0:
                    stopped = True
                    break
            if ctx.is_main and monitor is not None:
                if not stopped:  # a --time-budget run may end before --steps
                    monitor.progress.update(monitor.task, total=self.step, completed=self.step)
                if not stopped and self.val_pairs and self.step % cfg.val_every:
                    self._validate(monitor)
                self._save("last.pt")
                event = "stopped" if stopped else "finished"
                monitor.record(self.step, {"event": event, "elapsed_s": round(self.elapsed, 1)})
        last = self.run_dir / "last.pt"
        return RunResult(self.run_dir, self.step, not stopped, self.best_psnr, last)

    def _agree(self, stop: bool, elapsed: float) -> tuple[bool, float]:
        """All processes stop together and share rank 0's clock (max over ranks)."""
        if not self.ctx.distributed:
            return stop, elapsed
        t = torch.tensor([float(stop), elapsed], dtype=torch.float64)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t[0] > 0), float(t[1])

    def _periodic(self, monitor: Monitor | None) -> None:
        cfg = self.cfg
        if self.step % cfg.sample_every == 0:
            write_grid(self.run_dir / "samples" / f"step_{self.step:07d}.png", self.g, self.preview, cfg.scale)
        if self.val_pairs and self.step % cfg.val_every == 0 and monitor is not None:
            self._validate(monitor)
        if self.step % cfg.save_every == 0:
            self._save("last.pt")

    def _validate(self, monitor: Monitor) -> None:
        self.g.eval()
        try:
            result = evaluate_pairs(self.val_pairs, lambda lr: upscale_image(self.g, lr), self.cfg.scale, "sr",
                                    with_ssim=False)
        finally:
            self.g.train()
        psnr = result.mean_psnr
        monitor.record(self.step, {"val_psnr": psnr})
        what = "validation Y-PSNR (simulated INT8)" if self.cfg.phase == "qat" else "validation Y-PSNR"
        monitor.say(f"step {self.step}: {what} {psnr:.3f} dB on {len(self.val_pairs)} image(s)")
        if self.best_psnr is None or (math.isfinite(psnr) and psnr > self.best_psnr):
            self.best_psnr = psnr
            self._save("best.pt")

    def _save(self, name: str) -> Path:
        return save_checkpoint(self.run_dir / name, self._state())


"""``edgesr train``: a thin command over ``edgesr.train.loop`` (torch is imported inside it only)."""

from __future__ import annotations

from pathlib import Path

import typer

_TRAIN_FLAGS = (
    "out", "phase", "data", "val", "preset", "image_skip", "degradation", "data_workers",
    "scale", "steps", "batch", "crop", "schedule", "loss", "lr",
    "decay",
    "time_budget_min", "content", "adv_weight", "vgg_weights", "init", "weight_init", "amp", "device", "seed",
    "save_every", "sample_every", "val_every", "log_every",
)


def train(
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory [default: runs/edgesr]."),
    phase: str | None = typer.Option(
        None, help="srresnet (pixel loss), srgan (VGG content + adversarial) or qat (INT8-aware fine-tune of --init)."
    ),
    data: list[str] | None = typer.Option(
        None, help="Training images: a folder, image or list file; repeat for several [default: built-in photos]."
    ),
    val: str | None = typer.Option(None, help="Folder of validation images (Y-PSNR every --val-every steps)."),
    preset: str | None = typer.Option(None, help="Model preset: srresnet, edge_m, edge_s, edge_xs, edge_q [edge_s]."),
    image_skip: str | None = typer.Option(
        None, help="Edge presets: add the upsampled input to the output: none, nearest or bicubic [none]."
    ),
    degradation: str | None = typer.Option(
        None, help="How LR is made: bicubic (clean downscale) or real (Real-ESRGAN's camera-like pipeline, on the "
        "fly; a [degradation] table in --config overrides its parameters) [bicubic]."
    ),
    data_workers: int | None = typer.Option(
        None, help="Processes that build batches ahead of the model (for --degradation real) [0: in-process]."
    ),
    scale: int | None = typer.Option(None, help="Upscaling factor: 2, 3 or 4 [4]."),
    steps: int | None = typer.Option(None, help="Optimisation steps [1000]."),
    batch: int | None = typer.Option(None, help="Batch per process [16]."),
    crop: int | None = typer.Option(None, help="HR crop side in pixels [96]."),
    schedule: str | None = typer.Option(None, help="fast (L1, lr 1e-3 cosine; CPU/short runs) or paper [fast]."),
    loss: str | None = typer.Option(None, help="Pixel loss l1 or mse [from --schedule]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [from --schedule]."),
    decay: str | None = typer.Option(None, help="lr decay: cosine, step (x0.1 at half), none [from --schedule]."),
    time_budget_min: float | None = typer.Option(
        None, "--time-budget", help="Minutes; the run ends at --steps or this, whichever first; lr decays over it."
    ),
    content: str | None = typer.Option(None, help="SRGAN content loss: vgg22, vgg54 or pixel [vgg54]."),
    adv_weight: float | None = typer.Option(None, help="SRGAN adversarial loss weight [1e-3]."),
    vgg_weights: str | None = typer.Option(None, help="torchvision vgg19 state dict file (offline machines)."),
    init: str | None = typer.Option(None, help="Initialise the generator from this checkpoint (srgan, qat: required)."),
    weight_init: str | None = typer.Option(
        None, help="Without --init: interp (start as a smooth upsampler; faster short runs) or default [interp]."
    ),
    amp: str | None = typer.Option(None, help="auto, bf16 or off [auto: bf16 where the hardware has it]."),
    device: str | None = typer.Option(None, help="auto, cpu or cuda [auto]."),
    seed: int | None = typer.Option(None, help="Random seed [0]."),
    save_every: int | None = typer.Option(None, help="Write last.pt every N steps [500]."),
    sample_every: int | None = typer.Option(None, help="Write a bicubic|SR|HR PNG every N steps [500]."),
    val_every: int | None = typer.Option(None, help="Validate every N steps [500]."),
    log_every: int | None = typer.Option(None, help="Log losses every N steps [50]."),
    config: Path | None = typer.Option(None, "--config", help="TOML file of these settings (flags win)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run files in a non-empty --out."),
) -> None:
    """Train SRResNet (pixel loss) or SRGAN (from an SRResNet checkpoint).

    Multi-GPU / multi-process: torchrun --nproc_per_node=N -m edgesr train ...
    """
    from edgesr.train.loop import run_training

    values = locals()
    overrides = {k: values[k] for k in _TRAIN_FLAGS}
    overrides["data"] = list(data) if data else None
    result = run_training(overrides, config_file=config, resume=resume, overwrite=overwrite)
    if result.finished:
        best = f", best validation Y-PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
        typer.echo(f"done: {result.step} steps{best}; checkpoint {result.last_checkpoint}", err=True)
        return
    typer.echo(
        f"stopped at step {result.step}; checkpoint saved to {result.last_checkpoint}. "
        f"Resume with: edgesr train --resume --out {result.run_dir}",
        err=True,
    )
    raise typer.Exit(130)

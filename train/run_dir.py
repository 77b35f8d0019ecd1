"""The run directory: which config a run uses (new, or resumed from its ``last.pt``),
never clobbering a user's files, and keeping ``metrics.jsonl`` consistent on resume."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from edgesr.artifact import atomic_write
from edgesr.errors import BadInputError, UsageError
from edgesr.paths import output_dir
from edgesr.train.checkpoint import check_resumable, load_checkpoint
from edgesr.train.config import RunConfig, TrainConfig, build_config, merge_for_resume, read_toml

RUN_FILES = ("last.pt", "best.pt", "config.json", "metrics.jsonl", "samples", "tb")


def resolve_config(
    overrides: dict[str, Any], config_file: str | Path | None, resume: bool, overwrite: bool
) -> tuple[RunConfig, dict[str, Any] | None]:
    """The run's resolved config (and, when resuming, the checkpoint to continue from)."""
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other: pick one")
    file_values = read_toml(config_file) if config_file else {}
    out = Path(overrides.get("out") or file_values.get("out") or TrainConfig.out)
    inputs = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}
    data = inputs.get("data")
    sources = list(data) if isinstance(data, (list, tuple)) else [data]
    output_dir(out, "--out", inputs=(*sources, inputs.get("val")))
    if resume:
        last = out / "last.pt"
        if not last.is_file():
            raise BadInputError(f"nothing to resume in {out} (no last.pt); start a new run without --resume")
        ckpt = load_checkpoint(last)
        check_resumable(last, ckpt)
        saved = TrainConfig.from_dict(ckpt["config"], source=str(last))
        return merge_for_resume(saved, {**file_values, **overrides, "out": str(out)}).resolved(), ckpt
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UsageError(
            f"run directory {out} is not empty: pass --resume to continue it, "
            "--overwrite to replace it, or another --out"
        )
    cfg = build_config(overrides, config_file)
    given = {k for k, v in overrides.items() if v is not None} | set(file_values)
    srgan_only = [k for k in ("content", "adv_weight", "vgg_weights") if overrides.get(k) is not None]
    if srgan_only and cfg.phase != "srgan":  # given on the command line and silently unused: refused
        flag = "--" + srgan_only[0].replace("_", "-")
        raise UsageError(f"{flag} applies to --phase srgan (its content/adversarial loss), not --phase {cfg.phase}")
    inherited = ("preset", "scale", "image_skip")  # default to the init model's; given ones must match it
    if cfg.init and not set(inherited) <= given:
        init_spec = load_checkpoint(cfg.init)["spec"]
        fill = {k: getattr(init_spec, k) for k in inherited if k not in given}
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **fill})
    return cfg.resolved(), None


def clear_run_dir(out: Path) -> None:
    for name in RUN_FILES:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def lock_run_dir(out: Path) -> int | None:
    """Hold the run directory for this process: an exclusive ``flock`` on the directory itself (no lock file
    to leave behind; released by ``os.close`` of the returned descriptor, or when the process ends however it
    ends). A second ``train`` into the same ``--out`` is refused in one line instead of interleaving its
    files with the first."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UsageError(
            f"run directory {out} is in use by another edgesr train: wait for it, or give another --out"
        ) from None
    return fd


def _step_of(line: str) -> int | None:
    """The step of one metrics row; None for a torn or damaged row (a kill or power cut during the append)."""
    try:
        row = json.loads(line)
        step = row.get("step", 0) if isinstance(row, dict) else None
    except (ValueError, RecursionError):
        return None
    return step if isinstance(step, int) else None


def drop_metrics_after(path: Path, step: int) -> None:
    """A killed run may have logged steps after its last checkpoint; the resumed run logs
    them again, so the stale rows go (atomically) and the curve stays one line. A torn last row (the
    append cut short) goes too."""
    if path.is_symlink():
        raise BadInputError(f"{path} is a symbolic link: edgesr never writes a run's metrics through one")
    if not path.is_file():
        return
    lines = path.read_text(errors="replace").splitlines()
    keep = [ln for ln in lines if ln.strip() and (s := _step_of(ln)) is not None and s <= step]
    if len(keep) != len(lines):
        with atomic_write(path, "metrics") as tmp:
            tmp.write_text("".join(ln + "\n" for ln in keep))

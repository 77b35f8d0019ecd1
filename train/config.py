"""``TrainConfig``: every knob of a training run, frozen, resolved once.

Precedence: built-in defaults < ``--config file.toml`` < flags given on the command line.
The resolved configuration is written as ``config.json`` into the run directory and
travels inside every checkpoint, so ``--resume`` continues with exactly the same run.

Two schedules (``schedule``), which only choose defaults for ``loss``/``lr``/``decay``:

- ``fast`` (default; CPU, Jetson, short budgets): L1 pixel loss, Adam lr 1e-3, cosine
  decay to 0 over the run.
- ``paper`` (Ledig et al. 2017): MSE pixel loss, Adam lr 1e-4 constant for SRResNet;
  for SRGAN lr 1e-4 then 1e-5 for the second half (``decay = "step"``).

Degradation (``degradation``): ``bicubic`` (default; LR = MATLAB bicubic downscale of the HR image) or ``real``
(Real-ESRGAN's second-order pipeline on the fly, ``train/degrade_real.py``); a ``[degradation]`` table in the
TOML file overrides that pipeline's parameters (``degradation_params``).

Phase ``qat`` (INT8-aware fine-tune of ``--init``, ``train/qat.py``) defaults to lr 1e-4 with
cosine decay under either schedule (measured: docs/precision.md), and runs in float32.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from edgesr.errors import BadInputError, UsageError
from edgesr.options import MAX_SIDE, MIN_TILE, SCALES, choice, number
from edgesr.spec import IMAGE_SKIPS
from edgesr.spec import preset as preset_spec

PHASES = ("srresnet", "srgan", "qat")  # qat: INT8-aware fine-tune of --init (train/qat.py)
SCHEDULES = ("fast", "paper")
PIXEL_LOSSES = ("l1", "mse")
DECAYS = ("cosine", "step", "none")
CONTENT_LOSSES = ("vgg22", "vgg54", "pixel")
AMP_MODES = ("auto", "bf16", "off")
DEVICES = ("auto", "cpu", "cuda")
WEIGHT_INITS = ("interp", "default")
DEGRADATIONS = ("bicubic", "real")


@dataclass(frozen=True)
class TrainConfig:
    """A training run. ``None`` for ``loss``/``lr``/``decay`` means "the schedule's default"
    and is resolved by ``resolved()``; everything else is explicit."""

    out: str = "runs/edgesr"
    phase: str = "srresnet"
    data: list[str] | None = None  # folders / images / list files; None: the built-in sample images
    val: str | None = None
    preset: str = "edge_s"
    image_skip: str = "none"  # edge presets: none | nearest | bicubic (output = trunk + upsampled input)
    degradation: str = "bicubic"  # how LR is made: bicubic | real (train/degrade_real.py)
    degradation_params: dict[str, Any] | None = None  # real: the [degradation] table (overrides its defaults)
    data_workers: int = 0  # processes building batches ahead of the model (0: in the training process)
    scale: int = 4
    steps: int = 1000
    batch: int = 16  # per process; the global batch is batch x world size
    crop: int = 96  # HR crop side (the LR crop is crop / scale)
    schedule: str = "fast"
    loss: str | None = None  # pixel loss: l1 | mse
    lr: float | None = None
    decay: str | None = None  # cosine | step | none
    time_budget_min: float | None = None  # stop at whichever comes first: steps or this
    content: str = "vgg54"  # srgan content loss: vgg22 | vgg54 | pixel
    adv_weight: float = 1e-3
    vgg_weights: str | None = None
    init: str | None = None  # generator initialisation (SRGAN: an SRResNet checkpoint)
    weight_init: str = "interp"  # without --init: interp (start as a smooth upsampler) | default
    amp: str = "auto"  # auto: bf16 where it is native (CPU avx512_bf16/AMX, CUDA), else fp32
    device: str = "auto"
    sync_bn: bool = True  # DDP: BatchNorm statistics over the global batch
    seed: int = 0
    save_every: int = 500
    sample_every: int = 500
    val_every: int = 500
    log_every: int = 50

    # -- resolution -------------------------------------------------------------
    def resolved(self) -> RunConfig:
        """Fill in the schedule's defaults and validate every field (UsageError)."""
        _choice("phase", self.phase, PHASES)
        choice(self.scale, "--scale", SCALES)
        _choice("schedule", self.schedule, SCHEDULES)
        paper = self.schedule == "paper"
        if self.phase == "qat":  # a fine-tune: small lr, decayed, under either schedule
            lr, decay = 1e-4, "cosine"
        elif paper:
            lr, decay = 1e-4, ("step" if self.phase == "srgan" else "none")
        else:
            lr, decay = 1e-3, "cosine"
        cfg = RunConfig(**{
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "loss": self.loss or ("mse" if paper else "l1"),
            "lr": self.lr if self.lr is not None else lr,
            "decay": self.decay or decay,
        })
        _choice("loss", cfg.loss, PIXEL_LOSSES)
        _choice("decay", cfg.decay, DECAYS)
        _choice("content", cfg.content, CONTENT_LOSSES)
        _choice("amp", cfg.amp, AMP_MODES)
        _choice("device", cfg.device, DEVICES)
        _choice("weight_init", cfg.weight_init, WEIGHT_INITS)
        _choice("image_skip", cfg.image_skip, IMAGE_SKIPS)
        _choice("degradation", cfg.degradation, DEGRADATIONS)
        if cfg.degradation_params is not None:
            if cfg.degradation != "real":
                raise UsageError("a [degradation] table sets the real pipeline's parameters: add --degradation real")
            from edgesr.train.degrade_real import RealDegradation

            RealDegradation.from_table(cfg.degradation_params)
        number(cfg.data_workers, "--data-workers", 0, 64)
        preset_spec(cfg.preset, cfg.scale, cfg.image_skip)  # the spec refuses what it cannot build (srresnet + skip)
        for name in ("steps", "batch", "crop", "save_every", "sample_every", "val_every", "log_every"):
            if getattr(cfg, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(cfg, name)})")
        if cfg.crop % cfg.scale:
            raise UsageError(f"--crop {cfg.crop} is not a multiple of --scale {cfg.scale}")
        if cfg.phase == "srgan" and cfg.crop % 16:
            raise UsageError(f"SRGAN's discriminator needs --crop divisible by 16 (got {cfg.crop})")
        number(cfg.lr, "--lr", 0, 1, lo_open=True)
        number(cfg.time_budget_min, "--time-budget (minutes)", 0, lo_open=True)
        number(cfg.adv_weight, "--adv-weight", 0, 1e3)
        number(cfg.seed, "--seed", 0, 2**63 - 1)
        number(cfg.crop, "--crop", MIN_TILE, MAX_SIDE)
        if cfg.phase == "srgan" and cfg.init is None:
            raise UsageError("--phase srgan starts from an SRResNet checkpoint: pass --init CKPT")
        if cfg.phase == "qat" and cfg.init is None:
            raise UsageError("--phase qat fine-tunes a trained model: pass --init CKPT")
        if cfg.phase == "qat" and cfg.amp == "bf16":
            raise UsageError("--phase qat simulates INT8 rounding exactly and runs in float32: drop --amp bf16")
        return cfg

    # -- (de)serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{source}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        if isinstance(data.get("data"), str):  # one folder (configs and runs saved before several were allowed)
            data = {**data, "data": [data["data"]]}
        elif data.get("data") is not None:
            if not isinstance(data["data"], (list, tuple)) or not all(isinstance(d, str) for d in data["data"]):
                raise UsageError(f"{source}: data must be a folder or a list of folders, got {data['data']!r}")
            data = {**data, "data": list(data["data"])}
        for f in fields(cls):
            if f.name in data:
                _check_type(f.name, data[f.name], str(f.type), source)
        try:
            return cls(**data)
        except TypeError as exc:
            raise UsageError(f"{source}: {exc}") from None

    def save(self, run_dir: Path) -> Path:
        path = run_dir / "config.json"
        from edgesr.artifact import atomic_write

        with atomic_write(path, "run config") as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path


# Settings that define the run: a resume may not change them (the lr schedule, the data
# stream and the model all depend on them). Everything else (logging cadence, --val,
# --device) may differ on resume.
RUN_DEFINING = (
    "phase", "data", "preset", "image_skip", "degradation", "degradation_params", "scale", "steps", "batch", "crop",
    "schedule", "loss", "lr", "decay",
    "time_budget_min", "content", "adv_weight", "init", "weight_init", "seed", "sync_bn",
)


@dataclass(frozen=True)
class RunConfig(TrainConfig):
    """A resolved ``TrainConfig`` (``TrainConfig.resolved``): the schedule's loss, lr and decay filled in,
    every field checked. Nothing of it is optional any more."""

    loss: str = "l1"
    lr: float = 1e-3
    decay: str = "cosine"


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: top-level keys, or a ``[train]`` table, named like
    ``TrainConfig`` fields (dashes allowed)."""
    if sys.version_info >= (3, 11):
        import tomllib  # novermin (3.11+; tomli below on 3.10)
    else:  # pragma: no cover - Python 3.10 (Jetson)
        import tomli as tomllib
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise BadInputError(f"config file not found: {p}") from None
    except OSError as exc:
        raise BadInputError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{p} is not valid TOML: {exc}") from None
    table = data.get("train", data)
    if not isinstance(table, dict):
        raise BadInputError(f"{p}: [train] must be a table")
    out = {k.replace("-", "_"): v for k, v in table.items() if not (k == "degradation" and isinstance(v, dict))}
    deg = data.get("degradation", table.get("degradation"))
    if isinstance(deg, dict):  # the [degradation] table: the real pipeline's parameters
        out["degradation_params"] = {k.replace("-", "_"): v for k, v in deg.items()}
    return out


def build_config(overrides: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """Defaults < TOML file < ``overrides`` (only the flags actually given, i.e. not None)."""
    base: dict[str, Any] = read_toml(config_file) if config_file else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(base, source=str(config_file or "flags"))


def merge_for_resume(saved: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """The saved run's config with the flags given now; refuse a change to what defines the run."""
    given = {k: v for k, v in overrides.items() if v is not None}
    conflicts = [
        f"{k} ({getattr(saved, k)!r} -> {v!r})"
        for k, v in given.items()
        if k in RUN_DEFINING and v != getattr(saved, k) and not _same_default(saved, k, v)
    ]
    if conflicts:
        raise UsageError(
            f"--resume continues the saved run; these flags differ from it: {', '.join(conflicts)}. "
            "Drop them, or start a new run with --init CKPT"
        )
    return TrainConfig.from_dict({**saved.to_dict(), **given}, source="resume")


def _same_default(saved: TrainConfig, key: str, value: Any) -> bool:
    """A flag equal to what the schedule resolved (e.g. --lr 1e-3 on a fast run) is no conflict."""
    return key in ("loss", "lr", "decay") and getattr(saved.resolved(), key) == value


_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
_TYPE_WORDS = {"int": "a whole number", "float": "a number", "str": "a string", "bool": "true or false"}


def _check_type(name: str, value: Any, annotation: str, source: str) -> None:
    """A TOML value of the wrong type (``steps = "many"``) is one UsageError line naming the setting."""
    optional = annotation.endswith("| None")
    kind = annotation.replace("| None", "").strip()
    if kind not in _TYPES or (value is None and optional):
        return
    ok = isinstance(value, _TYPES[kind]) and not (kind != "bool" and isinstance(value, bool))
    if not ok:
        raise UsageError(f"{source}: {name} must be {_TYPE_WORDS[kind]}, got {value!r}")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)} (got {value!r})")

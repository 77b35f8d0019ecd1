"""Self-describing artifacts: the engine sidecar JSON and ONNX metadata keys.

An engine ``model.engine`` (TensorRT plan, or an optimised ONNX for the ONNX Runtime
backend) always has ``model.engine.json`` beside it. The runtime reads the sidecar
before the engine and refuses a mismatch (another TensorRT version or GPU, a file
that is not the one the sidecar describes, a spec the caller did not expect).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgesr import __version__
from edgesr.backends import runnable
from edgesr.errors import BadInputError, IncompatibleArtifactError, UsageError
from edgesr.precisions import PRECISIONS
from edgesr.spec import ModelSpec

SIDECAR_FORMAT = 1
ONNX_SPEC_KEY = "edgesr.spec"
ONNX_VERSION_KEY = "edgesr.version"
ONNX_PRECISION_KEY = "edgesr.precision"
INPUT_NAME = "lr"
OUTPUT_NAME = "sr"


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ShapeProfile:
    """Input spatial shape range (H, W) of an engine: TensorRT's one optimisation profile."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]
    max_batch: int = 1

    def __post_init__(self) -> None:
        for name, hw in (("min", self.min), ("opt", self.opt), ("max", self.max)):
            if len(hw) != 2 or min(hw) < 1:
                raise UsageError(f"--{name}-shape must be two positive numbers HxW, got {hw}")
        if not (self.min[0] <= self.opt[0] <= self.max[0] and self.min[1] <= self.opt[1] <= self.max[1]):
            raise UsageError(
                f"shape profile must satisfy min <= opt <= max in H and W, got min {fmt_hw(self.min)}, "
                f"opt {fmt_hw(self.opt)}, max {fmt_hw(self.max)}"
            )

    def accepts(self, h: int, w: int) -> bool:
        return self.min[0] <= h <= self.max[0] and self.min[1] <= w <= self.max[1]

    def describe(self) -> str:
        return f"{fmt_hw(self.min)} to {fmt_hw(self.max)} (HxW)"

    def to_dict(self) -> dict[str, Any]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max), "max_batch": self.max_batch}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShapeProfile:
        return cls(tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]), int(d.get("max_batch", 1)))  # type: ignore[arg-type]


def fmt_hw(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


def parse_hw(text: str) -> tuple[int, int]:
    """'360x640' -> (360, 640). Raises UsageError otherwise."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"expected a shape HxW such as 360x640, got {text!r}") from None
    return h, w


@dataclass
class Sidecar:
    backend: str
    precision: str
    spec: ModelSpec
    profile: ShapeProfile
    source_onnx_sha256: str
    engine_sha256: str
    backend_version: str
    device: dict[str, Any] = field(default_factory=dict)
    reference_onnx: str | None = None  # FP32 ONNX for stream checks, relative to the engine
    gate: dict[str, Any] | None = None
    build: dict[str, Any] = field(default_factory=dict)  # how it was built; the builder's facts in build["engine"]
    edgesr_version: str = __version__
    built_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    format: int = SIDECAR_FORMAT

    def __post_init__(self) -> None:
        if self.backend not in {b.name for b in runnable()}:
            raise IncompatibleArtifactError(f"unknown engine backend {self.backend!r}")
        if self.precision not in PRECISIONS:
            raise IncompatibleArtifactError(f"unknown engine precision {self.precision!r}")

    @property
    def engine_facts(self) -> dict[str, Any]:
        """The builder's facts (``build["engine"]``: flags, version/hardware compatibility, layers...)."""
        facts = (self.build or {}).get("engine")
        return facts if isinstance(facts, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        d["profile"] = self.profile.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sidecar:
        if not isinstance(d, dict):
            raise IncompatibleArtifactError(f"malformed engine sidecar: a JSON {type(d).__name__}, not an object")
        if not isinstance(d.get("format", 0), int):
            raise IncompatibleArtifactError(f"malformed engine sidecar: format {d.get('format')!r}")
        if int(d.get("format", 0)) > SIDECAR_FORMAT:
            raise IncompatibleArtifactError("engine sidecar is from a newer edgesr: upgrade edgesr")
        try:
            kw = dict(d)
            kw["spec"] = ModelSpec.from_dict(d["spec"])
            kw["profile"] = ShapeProfile.from_dict(d["profile"])
            return cls(**kw)
        except (KeyError, TypeError, ValueError, AttributeError, UsageError) as exc:
            raise IncompatibleArtifactError(f"malformed engine sidecar: {exc}") from exc


@dataclass(frozen=True)
class OnnxMetadata:
    """What an edgesr ONNX says about itself (``metadata_props``)."""

    spec: ModelSpec
    precision: str
    version: str | None


def read_onnx_metadata(meta: Mapping[str, str], name: str) -> OnnxMetadata:
    """The one reader of an edgesr ONNX's metadata, from ``onnx`` (``metadata_props``) or ONNX Runtime
    (``custom_metadata_map``) alike; a file without a spec or with an unknown precision is refused."""
    if ONNX_SPEC_KEY not in meta:
        raise IncompatibleArtifactError(
            f"{name} carries no edgesr model spec in its metadata: export it with `edgesr export`"
        )
    precision = meta.get(ONNX_PRECISION_KEY, "fp32")
    if precision not in PRECISIONS:
        raise IncompatibleArtifactError(f"{name} has unknown precision {precision!r} in its metadata")
    return OnnxMetadata(ModelSpec.from_json(meta[ONNX_SPEC_KEY]), precision, meta.get(ONNX_VERSION_KEY))


def sidecar_path(engine: str | os.PathLike[str]) -> Path:
    p = Path(engine)
    return p.with_name(p.name + ".json")


def write_sidecar(engine: str | os.PathLike[str], sidecar: Sidecar) -> Path:
    """Write ``<engine>.json`` atomically."""
    path = sidecar_path(engine)
    write_json(path, sidecar.to_dict())
    return path


def read_sidecar(engine: str | os.PathLike[str]) -> Sidecar:
    from edgesr.safe_read import read_json_capped

    path = sidecar_path(engine)
    if not path.exists() and not path.is_symlink():
        raise IncompatibleArtifactError(
            f"{engine} has no sidecar {path.name}: engines must be built with `edgesr build-engine`"
        )
    try:  # capped and checked: a sidecar that is /dev/zero, a FIFO, a loop or 10^5 nested brackets is one line
        data = read_json_capped(path, "engine sidecar")
    except BadInputError as exc:
        raise IncompatibleArtifactError(str(exc)) from None
    return Sidecar.from_dict(data)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash never leaves half a file."""
    text = json_text(data)
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def json_text(data: Any) -> str:
    """The JSON edgesr writes (reports, sidecars): indented, numpy and paths converted, and valid JSON: a
    NaN or infinite number (no checks yet, identical images) is written as ``null``, never as the bare
    ``NaN``/``Infinity`` other JSON readers reject."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default)
    if "NaN" in text or "Infinity" in text:  # rare: then once more, with the non-finite numbers as null
        text = json.dumps(_finite(json.loads(text)), indent=2, sort_keys=False)
    return text + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def temp_name(path: str | os.PathLike[str], tag: str = "tmp") -> Path:
    """A hidden name beside ``path``, unique to this process and call (pid + random), same suffix."""
    p = Path(path)
    return p.with_name(f".{p.stem}.{tag}{os.getpid()}-{secrets.token_hex(4)}{p.suffix}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], what: str = "") -> Iterator[Path]:
    """Yield a unique temp path beside ``path``; the caller writes it. On success it is fsynced and
    renamed over ``path`` (the old file stays intact until then). On ANY failure (ENOSPC, an
    exception, Ctrl-C, SIGTERM) the temp file is removed; an ``OSError`` becomes a one-line
    ``BadInputError`` naming what could not be written."""
    p = Path(path)
    label = f"{what} {p}" if what else str(p)
    refuse_special(p, label)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot write {label}: {exc.strerror or exc}") from None
    tmp = temp_name(p)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        refuse_special(p, label)  # again: it may have become one while the file was written
        os.replace(tmp, p)
    except OSError as exc:
        _remove(tmp)
        raise BadInputError(f"cannot write {label}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(tmp)
        raise


def refuse_special(path: str | os.PathLike[str], label: str) -> None:
    """An atomic writer renames over its target: never over a device node, FIFO or socket (as root,
    ``--report /dev/null`` would replace the machine's ``/dev/null``). One line instead."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing (it will be created) or unreadable (the write says why)
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise BadInputError(
            f"cannot write {label}: it is a device, FIFO or socket, not a regular file (edgesr never replaces one)"
        )


def _remove(p: Path) -> None:
    try:
        p.unlink(missing_ok=True)
    except OSError:
        pass


def _json_default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")

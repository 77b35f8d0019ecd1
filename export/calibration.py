"""INT8 calibration: activation ranges from real images, computed once and cached.

Calibration inputs are crops of the engine's optimal input size (``--opt-shape``) taken,
with a fixed seed, from the calibration images as they are (the way a camera delivers
frames to the engine); images smaller than the crop are skipped and counted, never used at
their own size (``calib_photos``: the sidecar records the crops really used). Unless ``--calib-mix none``,
a quarter of the crops are synthetic camera frames of that size (OSD text and logos over the
calibration images: ``camera_content``), so the ranges cover the
rare large activations burnt-in overlays produce (docs/overlays.md).

Methods (ONNX Runtime calibrators, checked in onnxruntime/quantization/calibrate.py):
- ``minmax``: the observed min and max of each tensor.
- ``entropy``: TensorRT-style KL-divergence threshold. ONNX Runtime's default is 128
  histogram bins with 128 quantised bins, which leaves exactly one candidate threshold
  (the full range) and so reproduces MinMax; ``quantize_static`` does not pass a bin count
  through. We drive the calibrator ourselves with 2048 bins (as TensorRT does).
- ``percentile``: the 99.999th percentile of |x| over a 2048-bin histogram.
- ``mse``: per tensor, the clipping threshold t (on the same |x| histogram) that minimises the
  expected squared error of symmetric INT8 with step t/127: rounding error (step^2/12, or x^2
  below half a step) inside, (|x| - t)^2 beyond.

Only the tensors Conv nodes read or write are calibrated (Q/DQ sits on Conv data inputs only,
``int8``).

The result (ONNX Runtime's ``TensorsData`` JSON) is cached under the edgesr cache,
keyed by the model's sha256, the images' names and contents, the crop count and shape,
the seed and the method, and reused when none of them changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgesr.artifact import INPUT_NAME, sha256_file
from edgesr.errors import MissingDependencyError, UsageError
from edgesr.export.calib_photos import PhotoChoice, choose_photos, usable_images
from edgesr.export.camera_content import calibration_mix, check_mix, synthetic_count
from edgesr.imageops import to_nchw
from edgesr.samples import cache_dir, samples_dir

# --calib-method -> the ONNX Runtime calibrator (CalibrationMethod member) and its options; "mse" collects the
# percentile calibrator's |x| histograms and picks its thresholds itself (``mse_ranges``).
METHODS: dict[str, tuple[str, Callable[[CalibrationConfig], dict[str, object]]]] = {
    "minmax": ("MinMax", lambda c: {"symmetric": True}),
    "entropy": ("Entropy", lambda c: {"symmetric": True, "num_bins": c.bins, "num_quantized_bins": 128}),
    "percentile": ("Percentile", lambda c: {"symmetric": True, "num_bins": c.bins, "percentile": c.percentile}),
    "mse": ("Percentile", lambda c: {"symmetric": True, "num_bins": c.bins, "percentile": c.percentile}),
}


@dataclass(frozen=True)
class CalibrationConfig:
    data: str | None = None  # folder of images; None = built-in 'train' samples
    images: int = 32  # number of crops
    shape: tuple[int, int] = (180, 320)  # crop HxW = the engine's opt input shape
    method: str = "percentile"  # chosen by measurement: benchmarks/int8_calibration.py, docs/precision.md
    bins: int = 2048  # histogram bins (entropy, percentile)
    percentile: float = 99.999
    seed: int = 0
    mix: str = "camera"  # camera: synthetic camera frames among the crops (``camera_content``); none: images only

    def __post_init__(self) -> None:
        check_mix(self.mix)
        if self.method not in METHODS:
            raise UsageError(f"--calib-method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.images < 1:
            raise UsageError(f"--calib-images must be at least 1, got {self.images}")
        if min(self.shape) < 1:
            raise UsageError(f"calibration crop shape must be positive, got {self.shape}")


@dataclass(frozen=True)
class Calibration:
    ranges_path: Path  # ONNX Runtime TensorsData JSON
    cached: bool
    images: tuple[Path, ...]  # files the crops came from (never used as check images)
    config: CalibrationConfig
    choice: PhotoChoice | None = None  # the photos used and those skipped as smaller than the crop

    def summary(self) -> dict[str, object]:
        photos = self.choice.photos if self.choice is not None else []
        return {
            **asdict(self.config),
            "image_files": list(dict.fromkeys(p.name for p in self.images)),  # names only: no paths of this machine
            "crops": {  # what was really calibrated on: every crop is of the configured shape
                "count": self.config.images,
                "shape": list(self.config.shape),
                "photos": len(photos),
                "synthetic_frames": synthetic_count(self.config.images, self.config.mix) if photos else 0,
                "skipped_smaller_than_crop": self.choice.record() if self.choice is not None else [],
                "skipped_unreadable": self.choice.unreadable if self.choice is not None else [],
            },
            "cache_key": self.ranges_path.name,
            "reused_cache": self.cached,
        }


def photo_choice(cfg: CalibrationConfig) -> PhotoChoice:
    """The calibration images (at most ``cfg.images``) that are at least the crop; smaller ones skipped."""
    folder = Path(cfg.data) if cfg.data is not None else samples_dir("train")
    return choose_photos(folder, cfg.shape, cfg.images)


def calibration_files(cfg: CalibrationConfig, choice: PhotoChoice | None = None) -> list[Path]:
    """The files the crops come from, in crop order (cycled by ``crops``): the images at least the crop (at most
    ``cfg.images`` of them) with synthetic camera frames of the crop's size mixed in unless ``cfg.mix`` is none."""
    photos = (choice or photo_choice(cfg)).photos
    if not photos:
        return photos
    return calibration_mix(photos, cfg.images, cfg.shape, cfg.seed, cfg.mix)


def crops(cfg: CalibrationConfig, files: list[Path]) -> Iterator[np.ndarray]:
    """``cfg.images`` NCHW float32 crops of ``cfg.shape``, cycling through the files, seeded."""
    rng = np.random.default_rng(cfg.seed)
    images = usable_images(files, cfg.shape)
    h, w = cfg.shape
    for i in range(cfg.images):
        img = images[i % len(images)]
        top = int(rng.integers(0, img.shape[0] - h + 1))
        left = int(rng.integers(0, img.shape[1] - w + 1))
        yield to_nchw(np.ascontiguousarray(img[top : top + h, left : left + w]))


def cache_key(model_sha256: str, files: list[Path], cfg: CalibrationConfig) -> str:
    h = hashlib.sha256()
    h.update(model_sha256.encode())
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    params = asdict(cfg)
    params.pop("data")  # the folder's name does not matter, its contents do
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:24]


def _require_cache_support() -> None:
    from onnxruntime.quantization import quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise MissingDependencyError(
            "onnxruntime (a newer one)", None, "INT8 export needs quantize_static(calibration_cache_path=...)"
        )


def calibrate(
    onnx_path: str | os.PathLike[str],
    cfg: CalibrationConfig,
    progress: Callable[[int, int], None] | None = None,
    adapt: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Calibration:
    """Activation ranges of the FP32 ONNX for ``cfg`` (from the cache when possible). ``adapt``: what the
    bare model gets for a crop (an imported model's size rule, ``edgesr.runtime.size_rule.as_model_input``)."""
    _require_cache_support()
    from onnxruntime.quantization import CalibrationMethod, create_calibrator, save_tensors_data

    choice = photo_choice(cfg)
    files = calibration_files(cfg, choice)
    key = cache_key(sha256_file(onnx_path), files, cfg)
    path = cache_dir() / "calibration" / f"{cfg.method}-{key}.json"
    if path.is_file() and _usable_cache(path):
        return Calibration(path, True, tuple(files), cfg, choice)
    calibrator_name, options_of = METHODS[cfg.method]
    method, options = getattr(CalibrationMethod, calibrator_name), options_of(cfg)
    with tempfile.TemporaryDirectory(prefix="edgesr-calib-") as tmp, _quiet():
        calibrator = create_calibrator(
            Path(onnx_path),
            ["Conv"],
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=method,
            extra_options=options,
        )
        # One image per collect_data call: ranges and histograms merge across calls, and
        # memory stays at one image's activations instead of all of them.
        for i, x in enumerate(crops(cfg, files)):
            calibrator.collect_data(_OneInput(adapt(x) if adapt else x))
            if progress:
                progress(i + 1, cfg.images)
        ranges = mse_ranges(calibrator) if cfg.method == "mse" else calibrator.compute_data()
        save_tensors_data(ranges, path)
    return Calibration(path, False, tuple(files), cfg, choice)


def _usable_cache(path: Path) -> bool:
    """A cached ranges file that is whole (ranges for some tensors); a damaged or ``{}`` one is recomputed."""
    from edgesr.errors import BadInputError
    from edgesr.safe_read import read_json_capped

    try:
        data = read_json_capped(path, "calibration cache", 64 << 20)
    except BadInputError:
        return False
    ranges = data.get("data") if isinstance(data, dict) else None
    return isinstance(ranges, dict) and bool(ranges)


def mse_threshold(hist: np.ndarray, edges: np.ndarray, qmax: float = 127.0) -> float:
    """The clipping threshold (a bin edge) minimising the expected INT8 squared error of |x|."""
    hist = np.asarray(hist, np.float64)
    edges = np.asarray(edges, np.float64)
    if hist.sum() == 0 or edges[-1] <= 0:
        return float(edges[-1])
    centres = (edges[:-1] + edges[1:]) / 2
    start = max(1, len(hist) // 64)
    best_t, best_err = float(edges[-1]), math.inf
    for k in range(start, len(hist) + 1):
        t = edges[k]
        step = t / qmax
        inside = centres[:k]
        rounding = np.where(inside < step / 2, inside**2, step**2 / 12.0)
        err = float(np.dot(hist[:k], rounding) + np.dot(hist[k:], (centres[k:] - t) ** 2))
        if err < best_err:
            best_t, best_err = float(t), err
    return best_t


def mse_ranges(calibrator: object) -> object:
    """TensorsData of MSE-optimal symmetric ranges from a percentile calibrator's |x| histograms."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData

    data = {}
    for name, (hist, edges, *_minmax) in calibrator.collector.histogram_dict.items():  # type: ignore[attr-defined]
        t = np.float32(mse_threshold(hist, edges))
        data[name] = TensorData(lowest=np.array(-t, np.float32), highest=np.array(t, np.float32))
    return TensorsData(CalibrationMethod.Percentile, data)


class _OneInput:
    """A CalibrationDataReader that yields one input once."""

    def __init__(self, x: np.ndarray) -> None:
        self._items = iter([{INPUT_NAME: x}])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's quantisation tools print progress and warnings of their own."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)

"""Accuracy gate: the built artifact against the FP32 ONNX, on images not used for calibration.

For every check image (HR photo -> ``imageops.downscale`` -> LR, centre-cropped so the LR
fits the engine's shape profile) both models upscale the LR; the outputs are turned into
RGB [0, 255] images with ``imageops.from_nchw`` (the deployed post-processing) and compared:
- PSNR of the variant against FP32 (per image, mean and worst), the gated number;
- Y-PSNR of each against the ground-truth HR (SR-table convention, ``edgesr.metrics``)
  and the drop the variant causes.
Any NaN or Inf in the variant's output fails the gate, ``--force`` or not. The default threshold per
precision is the precision table's (``edgesr.precisions``: ``min_psnr_db``). The runner given
as ``variant`` must be the artifact that ships (the engine file itself, not its source).

INT8 on ONNX Runtime's CPU provider: the Q/DQ graph is fused into integer kernels. On x86
CPUs without VNNI (AVX2/AVX-512 only) their u8 x s8 dot products accumulate pairs in int16 and
can saturate ("the saturation issue", docs.openvino.ai pot_saturation_issue; it "does not
occur on GPUs or CPUs with ... VNNI"), worst on the first conv. The gate measures the file
as this machine runs it; beside it, ``exact_qdq`` reports the same file with ONNX Runtime's
Q/DQ fusion disabled (``session.disable_quant_qdq``), i.e. the exact arithmetic of the Q/DQ
graph that TensorRT and GPUs implement. A large gap between the two is a CPU-kernel effect,
not a quantisation one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgesr.compare import as_image, compare, require_finite
from edgesr.errors import AccuracyGateError
from edgesr.export.parity import fmt_db, json_db
from edgesr.imageops import to_nchw
from edgesr.pairs import ImagePair
from edgesr.regions import Tile, worst_tile
from edgesr.runtime.size_rule import run_with_rule


@dataclass(frozen=True)
class ImageResult:
    name: str
    lr_hw: tuple[int, int]
    psnr_vs_fp32: float
    y_psnr_fp32: float
    y_psnr_variant: float
    psnr_exact_qdq: float | None = None  # INT8 on ONNX Runtime: the Q/DQ graph without fused kernels
    y_psnr_exact_qdq: float | None = None
    content: str = "natural"  # content class (``edgesr.synthetic.CLASSES``)
    max_abs_err: int = 0  # of 255, output vs FP32
    worst_tile: Tile | None = None  # output pixels

    @property
    def y_drop(self) -> float:
        return self.y_psnr_fp32 - self.y_psnr_variant


def class_stats(results: list[ImageResult], min_psnr_db: float) -> dict[str, dict[str, Any]]:
    """Per content class: images, mean and worst PSNR vs FP32, worst image and its worst tile, max abs error,
    threshold and whether the class passed."""
    out: dict[str, dict[str, Any]] = {}
    for cls in dict.fromkeys(r.content for r in results):
        rows = [r for r in results if r.content == cls]
        finite = [r.psnr_vs_fp32 for r in rows if not math.isinf(r.psnr_vs_fp32)]
        worst = min(rows, key=lambda r: r.psnr_vs_fp32)
        out[cls] = {
            "images": len(rows),
            "mean_psnr_db": json_db(float(np.mean(finite)) if finite else math.inf),
            "worst_psnr_db": json_db(worst.psnr_vs_fp32),
            "worst_image": worst.name,
            "worst_tile": worst.worst_tile.to_dict() if worst.worst_tile else None,
            "max_abs_err": max(r.max_abs_err for r in rows),
            "min_psnr_db": min_psnr_db,
            "passed": worst.psnr_vs_fp32 >= min_psnr_db,
        }
    return out


@dataclass
class GateReport:
    precision: str
    backend: str
    artifact: str
    reference: str
    check_data: str
    min_psnr_db: float
    images: list[ImageResult]
    skipped: list[str] = field(default_factory=list)
    forced: bool = False
    int8: dict[str, Any] | None = None  # INT8: placement, kept convs, MAC share, sensitivity table
    fp16: dict[str, Any] | None = None  # FP16: the layers kept FP32 and why (``fp16.Fp16Keep``)

    @property
    def mean_psnr(self) -> float:
        """Mean per-image PSNR over the images that differ at all (inf when none does)."""
        finite = [r.psnr_vs_fp32 for r in self.images if not math.isinf(r.psnr_vs_fp32)]
        return float(np.mean(finite)) if finite else math.inf

    @property
    def worst(self) -> ImageResult:
        return min(self.images, key=lambda r: r.psnr_vs_fp32)

    @property
    def mean_y_drop(self) -> float:
        return float(np.mean([r.y_drop for r in self.images]))

    @property
    def classes(self) -> dict[str, dict[str, Any]]:
        return class_stats(self.images, self.min_psnr_db)

    @property
    def failed_classes(self) -> list[str]:
        return [c for c, v in self.classes.items() if not v["passed"]]

    @property
    def passed(self) -> bool:
        """Every content class reaches its threshold (its worst image does)."""
        return not self.failed_classes

    def failure(self) -> str:
        """Which classes failed and where: their worst image and tile."""
        parts = []
        for cls in self.failed_classes:
            r = min((r for r in self.images if r.content == cls), key=lambda r: r.psnr_vs_fp32)
            where = f", worst {r.worst_tile.describe()}" if r.worst_tile else ""
            parts.append(f"class {cls}: worst image {r.name} at {r.psnr_vs_fp32:.2f} dB{where}")
        return f"{'; '.join(parts)} < {self.min_psnr_db:g} dB vs FP32"

    def summary(self) -> str:
        w = self.worst
        macs = f"; {100 * self.int8['int8_mac_share']:.1f}% of MACs in INT8" if self.int8 else ""
        classes = "; ".join(
            f"{c} mean {fmt_db(_num(v['mean_psnr_db']))} worst {fmt_db(_num(v['worst_psnr_db']))} "
            f"max err {v['max_abs_err']}{'' if v['passed'] else ' FAILED'}"
            for c, v in self.classes.items()
        )
        return (
            f"{self.precision} vs FP32: mean {fmt_db(self.mean_psnr)}, worst {fmt_db(w.psnr_vs_fp32)} ({w.name}); "
            f"Y-PSNR drop vs ground truth {self.mean_y_drop:+.3f} dB over {len(self.images)} images{macs}\n"
            f"per class: {classes}"
        )

    def _exact_qdq_summary(self) -> dict[str, Any]:
        rows = [r for r in self.images if r.psnr_exact_qdq is not None and r.y_psnr_exact_qdq is not None]
        if not rows:
            return {}
        vals = [float(r.psnr_exact_qdq) for r in rows]  # type: ignore[arg-type]
        drops = [r.y_psnr_fp32 - float(r.y_psnr_exact_qdq) for r in rows]  # type: ignore[arg-type]
        return {
            "exact_qdq": {
                "mean_psnr_db": json_db(float(np.mean(vals))),
                "worst_psnr_db": json_db(min(vals)),
                "mean_y_drop_db": round(float(np.mean(drops)), 4),
                "note": "same file, ONNX Runtime Q/DQ fusion off: the Q/DQ arithmetic of GPUs/TensorRT; informative",
            }
        }

    def to_dict(self) -> dict[str, Any]:
        images = []
        for r in self.images:
            d = asdict(r)
            d["psnr_vs_fp32"] = json_db(r.psnr_vs_fp32)
            d["y_psnr_fp32"], d["y_psnr_variant"] = round(r.y_psnr_fp32, 3), round(r.y_psnr_variant, 3)
            d["y_drop"] = round(r.y_drop, 4)
            d["worst_tile"] = r.worst_tile.to_dict() if r.worst_tile else None
            if r.psnr_exact_qdq is None or r.y_psnr_exact_qdq is None:
                d.pop("psnr_exact_qdq")
                d.pop("y_psnr_exact_qdq")
            else:
                d["psnr_exact_qdq"] = json_db(r.psnr_exact_qdq)
                d["y_psnr_exact_qdq"] = round(r.y_psnr_exact_qdq, 3)
            images.append(d)
        return {
            "precision": self.precision,
            "backend": self.backend,
            "artifact": self.artifact,
            "reference": self.reference,
            "check_data": self.check_data,
            "min_psnr_db": self.min_psnr_db,
            "passed": self.passed,
            "forced": self.forced,
            "mean_psnr_db": json_db(self.mean_psnr),
            "worst_psnr_db": json_db(self.worst.psnr_vs_fp32),
            "worst_image": self.worst.name,
            "mean_y_psnr_fp32": round(float(np.mean([r.y_psnr_fp32 for r in self.images])), 3),
            "mean_y_psnr_variant": round(float(np.mean([r.y_psnr_variant for r in self.images])), 3),
            "mean_y_drop_db": round(self.mean_y_drop, 4),
            "classes": self.classes,
            "failed_classes": self.failed_classes,
            **self._exact_qdq_summary(),
            "images": images,
            "skipped_too_small": self.skipped,
            **({"int8": self.int8} if self.int8 else {}),
            **({"fp16": self.fp16} if self.fp16 else {}),
        }


def measure(
    variant: Any,
    reference: Any,
    pairs: list[ImagePair],
    scale: int,
    progress: Callable[[int, int], None] | None = None,
    exact_qdq: Any = None,
    classes: dict[str, str] | None = None,
) -> list[ImageResult]:
    """Run both runners on every pair; raise ``AccuracyGateError`` on NaN/Inf output.
    ``exact_qdq``: an ONNX Runtime session of the INT8 file with Q/DQ fusion off (see above).
    ``classes``: content class by pair name (default natural)."""
    results = []
    for i, p in enumerate(pairs):
        x = to_nchw(p.lr)
        out = variant.infer(x)
        require_finite(out, f"{variant.precision} artifact", p.name)
        sr_variant, sr_fp32 = as_image(out), as_image(reference.infer(x))
        if sr_variant.shape != p.hr.shape:
            raise AccuracyGateError(f"output {sr_variant.shape} for {p.name} is not x{scale} of its input")
        c = compare(sr_variant, sr_fp32, p.hr, scale, p.gray)
        exact = None
        if exact_qdq is not None:
            name = exact_qdq.get_inputs()[0].name  # the bare file: the runner's size rule applied here too
            y = run_with_rule(lambda a, n=name: exact_qdq.run(None, {n: a})[0], x, reference.spec)
            exact = compare(y, sr_fp32, p.hr, scale, p.gray, y_psnr_reference=c.y_psnr_reference)
        results.append(
            ImageResult(
                p.name,
                (p.lr.shape[0], p.lr.shape[1]),
                c.psnr_vs_reference,
                c.y_psnr_reference,  # type: ignore[arg-type]
                c.y_psnr_output,  # type: ignore[arg-type]
                exact.psnr_vs_reference if exact else None,
                exact.y_psnr_output if exact else None,
                (classes or {}).get(p.name, "natural"),
                int(np.abs(sr_variant.astype(np.int16) - sr_fp32.astype(np.int16)).max()),
                worst_tile(sr_variant, sr_fp32),
            )
        )
        if progress:
            progress(i + 1, len(pairs))
    return results


def _num(v: Any) -> float:
    return math.inf if v == "inf" else float(v)


def exact_qdq_session(path: Any) -> Any:
    """ONNX Runtime session (CPU) of a Q/DQ file with Q/DQ fusion disabled: exact Q/DQ arithmetic."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.add_session_config_entry("session.disable_quant_qdq", "1")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])

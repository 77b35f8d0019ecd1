"""The INT8 variant for ``build-engine`` (and ``bench``): calibrate, choose the float convs, place Q/DQ.

``make_int8(src, calibration config, keep, target)`` -> the TensorRT-form Q/DQ model and a
record for the sidecar and the gate report: calibration, kept convs, share of the model's
multiply-adds that run in INT8 (Conv MACs at the calibration/opt shape), where the Q/DQ
pairs are, and for ``--int8-keep auto`` the sensitivity table and trade-off curve
(``int8_search``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import onnx

from edgesr.export.calib_photos import within
from edgesr.export.calibration import Calibration, CalibrationConfig, calibrate, calibration_files, crops
from edgesr.export.int8 import PLACEMENT, load_ranges, qdq_summary, quantize_qdq, resolve_names
from edgesr.export.int8_names import short_form
from edgesr.export.int8_search import DEFAULT_BUDGET_S, MARGIN_DB, conv_groups, conv_macs, int8_mac_share, search_keep
from edgesr.export.onnx_io import EdgeSRModel
from edgesr.imageops import to_nchw
from edgesr.runtime.size_rule import as_model_input, padded_side
from edgesr.synthetic import graphics_set

SEARCH_CROPS = 8  # sensitivity search: seeded crops of the calibration images, LR HxW below (at most the
SEARCH_SHAPE = (48, 48)  # calibration crop: an --opt-shape of 32x48 searches on 32x48 crops)
# A big model (full ESRGAN: ~17 M MACs per LR pixel) gets fewer, smaller crops, so that one evaluation
# costs at most about this many multiply-adds (the search's time is evaluations x this).
SEARCH_MACS_PER_EVAL = 40e9
SMALL_SEARCH = (4, (32, 32))


def padded_shape(hw: tuple[int, int], src: EdgeSRModel) -> tuple[int, int]:
    """An LR size as the bare model sees it (rounded up to its size rule; a fixed-tile model: its tile)."""
    if src.spec.fixed_tile is not None:
        return src.spec.fixed_tile  # type: ignore[no-any-return]
    r = src.spec.size_multiple, src.spec.min_size
    return padded_side(hw[0], *r), padded_side(hw[1], *r)


Progress = Callable[[str, int], Callable[[int, int], None]]


@dataclass(frozen=True)
class Int8Variant:
    model: onnx.ModelProto
    calibration: Calibration
    keep: list[str]
    record: dict[str, Any]  # -> sidecar build record and gate report ("int8")


def make_int8(
    src: EdgeSRModel,
    calib_cfg: CalibrationConfig,
    keep_text: str,
    min_psnr_db: float,
    progress: Progress | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
) -> Int8Variant:
    names = resolve_names(src.model, keep_text)  # before calibrating: bad names fail fast
    adapt = partial(as_model_input, spec=src.spec)  # size rule, gray models
    cal = calibrate(src.path, calib_cfg, progress("calibrating", calib_cfg.images) if progress else None, adapt)
    ranges = load_ranges(cal.ranges_path)
    macs = conv_macs(src.model, padded_shape(calib_cfg.shape, src))
    search = None
    if names is None:
        n, shape = SEARCH_CROPS, SEARCH_SHAPE
        per_eval = sum(conv_macs(src.model, padded_shape(shape, src)).values()) * n
        if per_eval > SEARCH_MACS_PER_EVAL:
            n, shape = SMALL_SEARCH
        shape = within(shape, calib_cfg.shape)  # every calibration image holds it
        scfg = replace(calib_cfg, images=n, shape=shape)
        xs = [adapt(x) for x in crops(scfg, calibration_files(calib_cfg))]
        # the gate's synthetic-graphics class too: not calibrated on (its ranges would cost every frame), but the
        # convs it breaks are measured here, so the search keeps them float before the gate has to refuse
        xs += [adapt(to_nchw(img)) for img in graphics_set(shape, calib_cfg.seed)]
        update = progress("INT8 sensitivity", len(conv_groups(list(macs))) * 2 + 1) if progress else None
        search = search_keep(src.model, ranges, xs, macs, min_psnr_db + MARGIN_DB, update, budget_s)
        names = search.keep
    model = quantize_qdq(src, ranges, names)
    record: dict[str, Any] = {
        "placement": PLACEMENT,
        "calibration_method": calib_cfg.method,
        "keep_float": names or "none",  # the Conv nodes, as in the search table and the Q/DQ file
        "keep_float_short": short_form(src.model, names) or "none",  # the same, as --int8-keep takes them
        "keep_mode": "auto (measured)" if search else keep_text,
        "int8_mac_share": round(int8_mac_share(macs, names), 4),
        "total_gmacs": round(sum(macs.values()) / 1e9, 3),
        "macs_at_input": f"{calib_cfg.shape[0]}x{calib_cfg.shape[1]}",
        "calibration_crops": cal.summary()["crops"],  # what was really calibrated on
        "qdq": qdq_summary(model),
    }
    if search is not None:
        record["search"] = search.to_dict()
    return Int8Variant(model, cal, names, record)

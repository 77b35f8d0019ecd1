"""``--int8-keep auto``: which convs stay in float, chosen by measurement, minimising float MACs.

The unit is a Conv (its data-input and weight Q/DQ pairs, ``int8.quantized_graph``): a conv
runs in INT8 exactly when both are quantised. Every evaluation runs the Q/DQ graph with ONNX
Runtime's Q/DQ fusion off (``session.disable_quant_qdq``), i.e. the exact Q/DQ arithmetic that
TensorRT and GPUs implement, the same on CPUs with and without VNNI, on small seeded crops of
the calibration images (never the gate's check images), against the FP32 model's output as
RGB uint8 (the gate's metric). Steps:

1. all convs quantised; then each conv alone quantised ("only": its own cost) and each conv
   alone left in float ("leave out": what keeping it buys);
2. rank the convs by their measured error power per MAC (10^(-PSNR_only/10) / MACs: the
   errors of separately quantised convs roughly add, so this is the knapsack order for "fewest
   float MACs for a noise budget") and keep the ranked prefix in float, measuring every
   prefix (the trade-off curve), until the worst crop reaches the target (the gate's
   threshold + ``MARGIN_DB``);
3. prune: put back into INT8 any kept conv (largest first) whose removal stays on target.

The per-conv table and the path (share of MACs in INT8 vs PSNR, the trade-off curve) go into
the gate report. MACs: Conv multiply-adds at the engine's opt input shape (``conv_macs``).

Scale (imported models: ESRGAN's RRDB net has ~350 convs). Up to ``MAX_UNITS`` convs, the unit
is a conv, as above. Beyond, the unit is a block: the convs that share a module-path prefix
(``/model/model.1/sub/sub.4/...`` -> one RRDB), at the deepest level that gives at most
``MAX_UNITS`` blocks, and step 1 measures "only this block INT8" (the ranking's input) without
the informative "leave out" runs: about 3 x blocks evaluations instead of 5 x convs. A time
budget (``budget_s``) bounds the whole search: past it, blocks not yet measured rank first (kept
float, the safe side) and the pruning stops; the report says so and the gate still decides.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from edgesr.export.int8 import quantized_graph
from edgesr.imageops import from_nchw
from edgesr.metrics import rgb_psnr

MARGIN_DB = 3.0
MAX_UNITS = 32  # above this many convs, search over blocks of convs
DEFAULT_BUDGET_S = 600.0


def conv_macs(model: onnx.ModelProto, hw: tuple[int, int]) -> dict[str, int]:
    """Multiply-adds of each Conv for one input of ``hw`` (shape inference at that size)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    channels = dims[1].dim_value or 3
    for d, v in zip(dims, (1, channels, hw[0], hw[1]), strict=True):
        d.ClearField("dim_param")
        d.dim_value = v
    del m.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.value_info}
    shapes.update({v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.output})
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    if any(len(shapes.get(n.output[0]) or []) != 4 or not all(shapes[n.output[0]]) for n in convs):
        shapes = _run_for_shapes(m, [n.output[0] for n in convs], (1, channels, hw[0], hw[1]))
    out = {}
    for n in convs:
        w = inits[n.input[1]]  # [Cout, Cin/group, kh, kw]
        y = shapes[n.output[0]]
        out[n.name] = int(y[0] * y[1] * y[2] * y[3] * int(np.prod(w[1:])))
    return out


def _run_for_shapes(m: onnx.ModelProto, names: list[str], shape: tuple[int, ...]) -> dict[str, list[int]]:
    """The shapes of ``names``, by running ``m`` once on zeros of ``shape``: where shape inference cannot follow the
    graph (sizes computed from the input's shape, as SAFMN's adaptive pooling exports)."""
    import onnxruntime as ort

    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            m.graph.output.add(name=name)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    ys = sess.run(names, {sess.get_inputs()[0].name: np.zeros(shape, dtype=np.float32)})
    return {name: list(np.asarray(y).shape) for name, y in zip(names, ys, strict=True)}


def int8_mac_share(macs: dict[str, int], keep: list[str]) -> float:
    total = sum(macs.values())
    return sum(v for k, v in macs.items() if k not in keep) / total if total else 0.0


@dataclass
class SearchResult:
    keep: list[str]
    target_db: float
    worst_db: float
    mean_db: float
    int8_mac_share: float
    reached: bool
    table: list[dict[str, Any]]
    curve: list[dict[str, Any]] = field(default_factory=list)
    crops: str = ""
    evaluations: int = 0
    units: str = "conv"
    seconds: float = 0.0
    budget_hit: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep": self.keep,
            "target_worst_psnr_db": self.target_db,
            "reached": self.reached,
            "worst_psnr_db": round(self.worst_db, 3),
            "mean_psnr_db": round(self.mean_db, 3),
            "int8_mac_share": round(self.int8_mac_share, 4),
            "crops": self.crops,
            "evaluations": self.evaluations,
            "unit": self.units,
            "seconds": round(self.seconds, 1),
            "time_budget_reached": self.budget_hit,
            "per_conv": self.table,
            "curve": self.curve,
            "note": "exact Q/DQ arithmetic (ONNX Runtime, Q/DQ fusion off) on calibration crops vs FP32",
        }


class Evaluator:
    """Worst/mean PSNR vs FP32 over fixed crops for a set of float-kept convs (cached)."""

    def __init__(self, model: onnx.ModelProto, ranges: dict[str, tuple[float, float]], xs: list[np.ndarray]) -> None:
        self.model, self.ranges, self.xs = model, ranges, xs
        self.refs = [from_nchw(y)[0] for y in self._run(model)]
        self.cache: dict[frozenset[str], tuple[float, float]] = {}

    def _run(self, model: onnx.ModelProto) -> list[np.ndarray]:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.add_session_config_entry("session.disable_quant_qdq", "1")
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return [sess.run(None, {name: x})[0] for x in self.xs]

    def __call__(self, keep: frozenset[str]) -> tuple[float, float]:
        if keep not in self.cache:
            outs = self._run(quantized_graph(self.model, self.ranges, sorted(keep)))
            psnrs = [min(rgb_psnr(from_nchw(y)[0], r), 200.0) for y, r in zip(outs, self.refs, strict=True)]
            self.cache[keep] = (float(min(psnrs)), float(np.mean(psnrs)))
        return self.cache[keep]


def conv_groups(convs: list[str], max_units: int = MAX_UNITS) -> dict[str, list[str]]:
    """Units of the search: each conv alone when there are at most ``max_units``; else blocks of convs
    sharing a node-name prefix, at the deepest level with at most ``max_units`` blocks."""
    if len(convs) <= max_units:
        return {c: [c] for c in convs}
    parts = {c: [p for p in c.split("/") if p] for c in convs}
    best: dict[str, list[str]] = {"all convs": list(convs)}
    for depth in range(1, max(len(p) for p in parts.values()) + 1):
        groups: dict[str, list[str]] = {}
        for c in convs:
            groups.setdefault("/" + "/".join(parts[c][:depth]), []).append(c)
        if len(groups) > max_units:
            if len(best) < max_units // 4:  # too coarse (a flat net: body.0 ... body.33): runs of the finer level
                keys = list(groups)
                size = -(-len(keys) // max_units)
                best = {f"{keys[i]} .. {keys[min(i + size, len(keys)) - 1]}": [c for k in keys[i : i + size]
                                                                                 for c in groups[k]]
                        for i in range(0, len(keys), size)}
            break
        best = groups
    return best


def search_keep(
    model: onnx.ModelProto,
    ranges: dict[str, tuple[float, float]],
    xs: list[np.ndarray],
    macs: dict[str, int],
    target_db: float,
    progress: Callable[[int, int], None] | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
) -> SearchResult:
    """The float-kept convs with the fewest MACs found that put the worst crop on ``target_db``."""
    start = time.monotonic()
    ev = Evaluator(model, ranges, xs)
    convs = list(macs)
    units = conv_groups(convs)
    per_conv = all(len(v) == 1 for v in units.values())
    umacs = {u: sum(macs[c] for c in cs) for u, cs in units.items()}
    everything = frozenset(convs)
    total = sum(macs.values()) or 1
    steps = (2 if per_conv else 1) * len(units) + 1
    done = [0]

    def convs_of(us: frozenset[str]) -> frozenset[str]:
        return frozenset(c for u in us for c in units[u])

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(min(done[0], steps), steps)

    def over() -> bool:
        return time.monotonic() - start > budget_s

    base = ev(frozenset())
    tick()
    table = []
    noise: dict[str, float] = {}
    for u in units:
        if over():
            noise[u] = math.inf  # not measured in time: ranked first, kept float
            continue
        only = ev(everything - frozenset(units[u]))
        noise[u] = 10 ** (-only[0] / 10)
        tick()
        row: dict[str, Any] = {
            "conv" if per_conv else "block": u,
            "mac_share": round(umacs[u] / total, 4),
            "psnr_only_this_int8_db": round(only[0], 2),
        }
        if per_conv:
            row["psnr_all_but_this_int8_db"] = round(ev(frozenset(units[u]))[0], 2)
            tick()
        else:
            row["convs"] = len(units[u])
        table.append(row)
    # Error powers of independently quantised units roughly add: rank by measured error power per
    # MAC, keep the ranked prefix in float until the measured worst crop reaches the target (every
    # prefix measured: the trade-off curve), then prune.
    order = sorted(units, key=lambda u: -noise[u] / max(umacs[u], 1))
    kept: frozenset[str] = frozenset()
    cur = base
    curve = [_point(kept, cur, macs)]
    for u in order:
        if cur[0] >= target_db:
            break
        if over():
            kept = kept | frozenset(x for x in order[order.index(u):])  # out of time: the rest stays float
            cur = ev(convs_of(kept))
            curve.append(_point(convs_of(kept), cur, macs, "budget: rest kept float"))
            break
        kept = kept | {u}
        cur = ev(convs_of(kept))
        curve.append(_point(convs_of(kept), cur, macs))
    if cur[0] >= target_db:
        for u in sorted(kept, key=lambda u: -umacs[u]):
            if over():
                break
            trial = ev(convs_of(kept - {u}))
            if trial[0] >= target_db:
                kept, cur = kept - {u}, trial
                curve.append(_point(convs_of(kept), cur, macs, "pruned"))
    kept_convs = convs_of(kept)
    keep = [c for c in convs if c in kept_convs]
    for row in table:
        row["kept_float"] = row["conv" if per_conv else "block"] in kept
    h, w = xs[0].shape[2:]
    return SearchResult(
        keep,
        target_db,
        cur[0],
        cur[1],
        int8_mac_share(macs, keep),
        cur[0] >= target_db,
        table,
        curve,
        f"{len(xs)} crops of {h}x{w}",
        len(ev.cache),
        "conv" if per_conv else f"block ({len(units)} blocks of {len(convs)} convs)",
        time.monotonic() - start,
        over(),
    )


def _point(kept: frozenset[str], r: tuple[float, float], macs: dict[str, int], step: str = "keep") -> dict[str, Any]:
    return {
        "step": step,
        "float_convs": len(kept),
        "int8_mac_share": round(int8_mac_share(macs, list(kept)), 4),
        "worst_psnr_db": round(r[0], 2) if math.isfinite(r[0]) else None,
        "mean_psnr_db": round(r[1], 2) if math.isfinite(r[1]) else None,
    }

"""FP16 variant: weights and compute in FP16, FP32 input and output, and FP32 where FP16 would overflow.

Made with ONNX Runtime's own converter (``onnxruntime.transformers.float16``) with
``keep_io_types=True``, so the runtime still feeds float32 NCHW and gets float32 back
(Cast nodes at the two ends). TensorRT 11 is strongly typed and takes exactly this file
for FP16; on TensorRT <= 10 it is parsed with the FP16 builder flag set.

FP16 that survives overflow (``measure_keep``): the FP32 ONNX is run on crops of the
calibration images with every intermediate tensor as an output. A node stays FP32 when any
float tensor it reads or writes leaves the FP16 range (|x| > ``FP16_SAFE``, an eighth of FP16's
max, so that the FP16 neighbours' rounding cannot tip it over), is NaN/Inf, or when one of its
weights does not fit FP16. The converter's ``node_block_list`` keeps those nodes FP32 with
Cast nodes around them, in the ONNX itself (what TensorRT 11's strong typing honours); their
names go into the metadata (``edgesr.fp16_keep_fp32``) so that a TensorRT 8.x-10.x build can pin
the same layers to FP32 (``pin_fp32_layers``), and into the gate report. The gate still decides.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgesr.errors import MissingDependencyError, require
from edgesr.export.onnx_io import EdgeSRModel, metadata, set_metadata, sort_topologically
from edgesr.imageops import to_nchw

FP16_MAX = float(np.finfo(np.float16).max)
FP16_SAFE = FP16_MAX / 8  # headroom for images brighter or busier than the calibration crops
KEEP_KEY = "edgesr.fp16_keep_fp32"  # ONNX metadata: JSON list of the node names kept FP32
MEASURE_CROPS, MEASURE_SHAPE = 8, (64, 64)  # crops of the calibration images the ranges are measured on


def weights_overflow(model: onnx.ModelProto) -> list[str]:
    """Float initializers with values FP16 cannot hold (they would become +-inf)."""
    bad = []
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            arr = numpy_helper.to_array(init)
            if arr.size and float(np.max(np.abs(arr))) > FP16_MAX:
                bad.append(init.name)
    return bad


@dataclass(frozen=True)
class Fp16Keep:
    """Which nodes stay FP32 and why (for the gate report and the sidecar)."""

    keep: list[str]
    reasons: dict[str, str]
    crops: str

    def to_dict(self) -> dict[str, Any]:
        return {"keep_fp32": self.keep or "none", "reasons": self.reasons, "measured_on": self.crops,
                "rule": f"a node reading or writing |x| > {FP16_SAFE:g} (FP16 max / 8), NaN/Inf, or weights "
                        "beyond FP16"}


def tensor_peaks(model: onnx.ModelProto, xs: Iterable[np.ndarray]) -> dict[str, tuple[float, bool]]:
    """Per float tensor of the graph: max |x| over the inputs, and whether it ever was NaN/Inf."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    inferred = onnx.shape_inference.infer_shapes(m)
    floats = {v.name for v in inferred.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for out in node.output:
            if out and out in floats and out not in have:
                m.graph.output.add(name=out)
                have.add(out)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    peaks: dict[str, tuple[float, bool]] = {}
    for x in xs:
        feeds = {sess.get_inputs()[0].name: x}
        for name, y in zip(names, sess.run(names, feeds), strict=True):
            a = np.asarray(y)
            if a.dtype.kind != "f" or not a.size:
                continue
            finite = bool(np.all(np.isfinite(a)))
            peak = float(np.max(np.abs(a[np.isfinite(a)]))) if np.any(np.isfinite(a)) else 0.0
            old = peaks.get(name, (0.0, True))
            peaks[name] = (max(old[0], peak), old[1] and finite)
    input_name = sess.get_inputs()[0].name
    peaks.setdefault(input_name, (1.0, True))
    return peaks


def measure_keep(model: onnx.ModelProto, xs: list[np.ndarray], crops: str = "") -> Fp16Keep:
    """The nodes that must stay FP32 (see the module docstring)."""
    peaks = tensor_peaks(model, xs)
    big_weights = set(weights_overflow(model))
    keep: list[str] = []
    reasons: dict[str, str] = {}
    for node in model.graph.node:
        why = ""
        for t in [*node.input, *node.output]:
            if t in big_weights:
                why = f"weight {t} beyond FP16"
                break
            peak, finite = peaks.get(t, (0.0, True))
            if not finite:
                why = f"{t} NaN/Inf in FP32"
                break
            if peak > FP16_SAFE:
                why = f"{t} reaches {peak:.3g}"
                break
        if why:
            keep.append(node.name)
            reasons[node.name] = why
    return Fp16Keep(keep, reasons, crops)


def to_fp16(src: EdgeSRModel, keep: Fp16Keep | None = None) -> onnx.ModelProto:
    """The FP16 ONNX of an FP32 edgesr ONNX, metadata precision set to 'fp16'; the nodes in ``keep``
    (default: those whose weights exceed FP16) stay FP32 between Cast nodes."""
    float16 = require("onnxruntime.transformers.float16", why="the FP16 converter ships with onnxruntime")
    if keep is None:
        over = set(weights_overflow(src.model))
        names = [n.name for n in src.model.graph.node if over & set(n.input)]
        keep = Fp16Keep(names, {n: "weights beyond FP16" for n in names}, "not measured")
    model = onnx.ModelProto()
    model.CopyFrom(src.model)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
        fp16 = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=keep.keep or None)
    sort_topologically(fp16)
    drop_cast_round_trips(fp16)
    set_metadata(fp16, src.spec, "fp16", **{KEEP_KEY: json.dumps(keep.keep)})
    return fp16


def _cast_to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), -1) if node.op_type == "Cast" else -1


def drop_cast_round_trips(model: onnx.ModelProto) -> int:
    """The converter casts every kept node's output to FP16 and every kept node's input back to FP32, even
    between two kept nodes: such an FP32 -> FP16 -> FP32 round trip would overflow exactly where the value
    must stay FP32. Readers of the round trip's end read the FP32 tensor instead. Returns how many."""
    producers = {o: n for n in model.graph.node for o in n.output}
    f32 = onnx.TensorProto.FLOAT
    f16 = onnx.TensorProto.FLOAT16
    graph_out = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    for node in model.graph.node:
        if _cast_to(node) != f32 or node.output[0] in graph_out:
            continue
        down = producers.get(node.input[0])
        if down is None or _cast_to(down) != f16:
            continue
        origin = producers.get(down.input[0])
        if origin is not None and _cast_to(origin) == f16:
            continue  # already an FP16 value: nothing to keep
        rename[node.output[0]] = down.input[0]
    if not rename:
        return 0
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    used = {i for n in model.graph.node for i in n.input} | graph_out
    keep = [n for n in model.graph.node if n.op_type != "Cast" or any(o in used for o in n.output)]
    while len(keep) != len(model.graph.node):  # a down-cast whose only readers were removed goes too
        del model.graph.node[:]
        model.graph.node.extend(keep)
        used = {i for n in model.graph.node for i in n.input} | graph_out
        keep = [n for n in model.graph.node if n.op_type != "Cast" or any(o in used for o in n.output)]
    return len(rename)


def kept_fp32(model: onnx.ModelProto) -> list[str]:
    """The node names an FP16 ONNX keeps in FP32 (its metadata), for TensorRT 8.x-10.x layer precisions."""
    raw = metadata(model).get(KEEP_KEY, "[]")
    try:
        names = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


def pin_fp32_layers(trt: Any, network: Any, config: Any, names: list[str]) -> list[str]:
    """TensorRT 8.x-10.x (weakly typed, FP16 flag): run the layers made from the kept ONNX nodes in FP32
    (``layer.precision``, output types, ``OBEY_PRECISION_CONSTRAINTS``). The ONNX parser names a layer
    after its node (with a suffix where one node becomes several layers). Returns the layers pinned."""
    if not names:
        return []
    wanted = set(names)
    pinned = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        base = layer.name.split(" ")[0]
        if layer.name in wanted or base in wanted or any(layer.name.startswith(n + "_") for n in wanted):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                if layer.get_output(j).dtype in (trt.float32, trt.float16):
                    layer.set_output_type(j, trt.float32)
            pinned.append(layer.name)
    if pinned:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    return pinned


def make_fp16(src: EdgeSRModel, calib_cfg: Any) -> tuple[onnx.ModelProto, Fp16Keep]:
    """Measure on ``MEASURE_CROPS`` crops of the calibration images (``calib_cfg``: its folder and seed),
    then convert with the measured keep list."""
    from dataclasses import replace

    from edgesr.export.calib_photos import within
    from edgesr.export.calibration import calibration_files, crops
    from edgesr.runtime.size_rule import as_model_input

    shape = within(MEASURE_SHAPE, calib_cfg.shape)  # every calibration image holds it
    cfg = replace(calib_cfg, images=MEASURE_CROPS, shape=shape)
    try:
        xs = [as_model_input(x, src.spec) for x in crops(cfg, calibration_files(cfg))]
        what = "calibration images"
    except MissingDependencyError:  # no built-in photos (a torch-free install without scikit-image)
        if cfg.data is not None:
            raise
        from edgesr.synthetic import graphics_set

        xs = [as_model_input(to_nchw(img), src.spec) for img in graphics_set(shape, cfg.seed)]
        what = "synthetic test patterns: no calibration images here"
    keep = measure_keep(src.model, xs, f"{len(xs)} crops of {shape[0]}x{shape[1]} ({what})")
    return to_fp16(src, keep), keep


"""Torch-free edgesr ONNX models for tests and benchmarks, built with ``onnx.helper`` (the tests import it as
``tinymodel``; see ``edgesr.testing``).

``tiny_onnx``: Conv3x3 -> PReLU -> Conv3x3 (+ nearest-neighbour skip) -> DepthToSpace(scale), a few KB,
image-like output (nearest upscale plus a small learned residual), any HxW.

``srresnet_onnx``: the deployed SRResNet graph of a ``ModelSpec`` (BatchNorm folded away: head 9x9 conv +
PReLU, B residual blocks, body conv + skip, sub-pixel stages, tail 9x9 conv) with random weights: the
realistic compute of a preset without torch.

``ort_engine``: an ONNX Runtime "engine" (the file + its sidecar), as ``edgesr build-engine --backend
onnxruntime`` writes it, for tests that must not depend on the export stage.

Both ONNX builders can round their weights to float16 (``fp16_weights=True``): a realistic engine that
differs a little from its FP32 reference, for PSNR-check tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgesr import __version__
from edgesr.artifact import (
    INPUT_NAME,
    ONNX_PRECISION_KEY,
    ONNX_SPEC_KEY,
    ONNX_VERSION_KEY,
    OUTPUT_NAME,
    ShapeProfile,
    Sidecar,
    sha256_file,
    write_sidecar,
)
from edgesr.spec import ModelSpec, edge_xs

OPSET = 17


class _Graph:
    def __init__(self, seed: int, fp16_weights: bool) -> None:
        self.rng = np.random.default_rng(seed)
        self.fp16 = fp16_weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def _name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}_{self.n}"

    def weight(self, value: np.ndarray) -> str:
        value = value.astype(np.float32)
        if self.fp16:
            value = value.astype(np.float16).astype(np.float32)
        name = self._name("w")
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def conv(self, x: str, cin: int, cout: int, k: int, gain: float = 1.0) -> str:
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = self.weight(self.rng.normal(0.0, std, (cout, cin, k, k)))
        b = self.weight(self.rng.normal(0.0, 0.01, (cout,)))
        y = self._name("conv")
        self.nodes.append(helper.make_node("Conv", [x, w, b], [y], name=y, pads=[k // 2] * 4, kernel_shape=[k, k]))
        return y

    def prelu(self, x: str, slope: float = 0.25) -> str:
        s = self.weight(np.full((1, 1, 1), slope))
        y = self._name("prelu")
        self.nodes.append(helper.make_node("PRelu", [x, s], [y], name=y))
        return y

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        y = self._name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [y], name=y, **attrs))  # named, as exporters do
        return y

    def model(self, out: str, spec: ModelSpec, precision: str, name: str) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME]))
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, "H", "W"])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", 3, "OH", "OW"])],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgesr-tests")
        model.ir_version = 8
        helper.set_model_props(
            model, {ONNX_SPEC_KEY: spec.to_json(), ONNX_VERSION_KEY: __version__, ONNX_PRECISION_KEY: precision}
        )
        onnx.checker.check_model(model)
        return model


def tiny_onnx(
    path: str | Path,
    scale: int = 4,
    channels: int = 8,
    seed: int = 0,
    fp16_weights: bool = False,
    spec: ModelSpec | None = None,
) -> Path:
    """Write a tiny x``scale`` edgesr model to ``path`` (a few KB) and return the path."""
    spec = spec or edge_xs(scale)
    g = _Graph(seed, fp16_weights)
    h = g.prelu(g.conv(INPUT_NAME, 3, channels, 3))
    r = g.conv(h, channels, 3 * scale * scale, 3, gain=0.1)
    skip = g.op("Concat", [INPUT_NAME] * (scale * scale), axis=1)  # DCR order: nearest-neighbour upsample
    y = g.op("DepthToSpace", [g.op("Add", [r, skip])], blocksize=scale, mode="DCR")
    return _save(g.model(y, spec, "fp16" if fp16_weights else "fp32", "edgesr_tiny"), path)


def srresnet_onnx(path: str | Path, spec: ModelSpec, seed: int = 0, fp16_weights: bool = False) -> Path:
    """Write the deployed (BN-folded) SRResNet graph of ``spec`` with random weights."""
    g = _Graph(seed, fp16_weights)
    c = spec.channels
    head = g.prelu(g.conv(INPUT_NAME, spec.in_channels, c, 9))
    x = head
    for _ in range(spec.blocks):
        r = g.conv(g.prelu(g.conv(x, c, c, 3)), c, c, 3, gain=0.1)
        x = g.op("Add", [x, r])
    x = g.op("Add", [head, g.conv(x, c, c, 3, gain=0.1)])
    for f in spec.upsample_factors:
        x = g.prelu(g.op("DepthToSpace", [g.conv(x, c, c * f * f, 3)], blocksize=f, mode="CRD"))
    y = g.conv(x, c, spec.in_channels, 9, gain=0.05)
    bias = g.weight(np.full((1, 1, 1), 0.5))
    y = g.op("Add", [y, bias])
    return _save(g.model(y, spec, "fp16" if fp16_weights else "fp32", "edgesr_srresnet"), path)


def _save(model: onnx.ModelProto, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(p))
    return p


def ort_engine(
    engine: str | Path,
    onnx_path: str | Path,
    reference: str | Path | None = None,
    profile: ShapeProfile | None = None,
    precision: str = "fp32",
) -> Path:
    """Copy ``onnx_path`` to ``engine`` and write its onnxruntime sidecar (reference copied beside it)."""
    engine, onnx_path = Path(engine), Path(onnx_path)
    engine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, engine)
    ref_name = None
    if reference is not None:
        ref_name = engine.stem + ".fp32.onnx"
        if Path(reference).resolve() != (engine.parent / ref_name).resolve():
            shutil.copyfile(reference, engine.parent / ref_name)
    meta = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    import onnxruntime

    write_sidecar(
        engine,
        Sidecar(
            backend="onnxruntime",
            precision=precision,
            spec=ModelSpec.from_json(meta[ONNX_SPEC_KEY]),
            profile=profile or ShapeProfile((8, 8), (64, 64), (256, 256)),
            source_onnx_sha256=sha256_file(onnx_path),
            engine_sha256=sha256_file(engine),
            backend_version=onnxruntime.__version__,
            reference_onnx=ref_name,
        ),
    )
    return engine


# -- test media -------------------------------------------------------------------------------------------
def test_frames(n: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` smooth, moving uint8 RGB frames (gradients + a moving square + mild noise): compress like video."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        r = 128 + 100 * np.sin(xx / 7.0 + i * 0.2)
        g = 128 + 100 * np.cos(yy / 5.0 - i * 0.1)
        b = 255 * (xx + yy + 3 * i) / (height + width + 3 * n)
        img = np.stack([r, g, b], axis=-1)
        s = max(2, min(height, width) // 4)
        y0, x0 = (2 * i) % max(1, height - s), (3 * i) % max(1, width - s)
        img[y0 : y0 + s, x0 : x0 + s] = (240, 30, 30)
        img += rng.normal(0, 3, img.shape)
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return frames


def write_video(
    path: str | Path,
    frames: list[np.ndarray],
    fps: int = 30,
    codec: str = "libx264",
    audio: bool = True,
    sample_rate: int = 16000,
    encoder_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` (uint8 RGB) into ``path`` with PyAV, plus an AAC sine-tone track when ``audio``.
    ``encoder_options`` go to the video encoder (e.g. libx264's crf), ``container_options`` to the muxer."""
    import av

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(p), "w", options=container_options or {}) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if encoder_options:
            vs.options = encoder_options
        ast = out.add_stream("aac", rate=sample_rate) if audio else None
        if ast is not None:
            ast.layout = "mono"
        samples_per_frame = sample_rate // fps
        t = 0
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            for pkt in vs.encode(vf):
                out.mux(pkt)
            if ast is not None:
                n = np.arange(t, t + samples_per_frame)
                tone = (0.3 * np.sin(2 * np.pi * 440 * n / sample_rate)).astype(np.float32)[None, :]
                af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                af.sample_rate, af.pts = sample_rate, t
                t += samples_per_frame
                for pkt in ast.encode(af):
                    out.mux(pkt)
        for stream in (vs, ast):
            if stream is not None:
                for pkt in stream.encode(None):
                    out.mux(pkt)
    return p

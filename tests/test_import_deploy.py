"""Imported models through the whole path with ONNX Runtime: export with parity, FP16 and INT8 builds through the
gate, a stream of a clip with an odd frame size, eval; and the FP16-overflow model whose overflowing layers stay
FP32."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from export_helpers import SMALL_PROFILE, cli, session_cache
from import_models import fp16_overflow, make, save

from edgesr.imageops import save_image

# .pth for some, .safetensors for the others: both formats go through export.
FILES = {"esrgan": ".safetensors", "compact": ".pth", "span": ".safetensors", "swinir": ".pth", "x1": ".safetensors",
         "gray": ".pth"}
BUILD = [*SMALL_PROFILE, "--backend", "onnxruntime"]
INT8 = ["--calib-images", "8"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Path]]]:
    """Every model exported once (parity proven by the export itself)."""
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    root = tmp_path_factory.mktemp("imports")
    out = {}
    with session_cache(tmp_path_factory):
        for name, suffix in FILES.items():
            src = make(name, root / f"{name}{suffix}")
            result = export_onnx(src, root / f"{name}.onnx", ExportConfig(parity_sizes=((32, 40),)))
            assert result.parity.worst_psnr_db >= 60 and result.spec.source["file"] == src.name
            out[name] = result.path
        yield root, out


def _odd_clip(path: Path, frames: int = 3, h: int = 29, w: int = 37) -> Path:
    """A lossless (FFV1) clip of odd frame size."""
    import av
    import tinymodel

    with av.open(str(path), "w") as container:
        vs = container.add_stream("ffv1", rate=10)
        vs.width, vs.height, vs.pix_fmt = w, h, "bgr0"
        for i, img in enumerate(tinymodel.test_frames(frames, h, w)):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            for pkt in vs.encode(vf):
                container.mux(pkt)
        for pkt in vs.encode(None):
            container.mux(pkt)
    return path


@pytest.mark.parametrize("name", list(FILES))
def test_fp16_int8_stream_eval(exported: tuple[Path, dict[str, Path]], name: str,
                               capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root, onnx = exported
    engines = {}
    for flag in ("--fp16", "--int8"):
        engine = tmp_path / f"{name}.{flag[2:]}.ort.onnx"
        extra = INT8 if flag == "--int8" else []
        if flag == "--int8" and name == "esrgan":  # 20 convs: the measured search costs 41 runs; all INT8 passes
            extra = [*extra, "--int8-keep", "none"]
        code, out, err = cli(capsys, "build-engine", onnx[name], flag, "-o", engine, *BUILD, *extra)
        assert code == 0, err
        gate = json.loads(Path(f"{engine}.gate.json").read_text())
        assert gate["passed"] and gate["precision"] == flag[2:]
        if flag == "--fp16":
            assert gate["fp16"]["keep_fp32"] == "none"  # nothing overflows in these nets
        else:
            assert gate["int8"]["int8_mac_share"] > 0
        engines[flag[2:]] = engine
    clip = _odd_clip(tmp_path / "odd.mkv")
    code, _, err = cli(capsys, "stream", "--engine", engines["int8"], "--video", clip, "-o", tmp_path / "frames",
                       "--check-every", "1", "--quiet", "--report", tmp_path / "report.json")
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    scale = 1 if name == "x1" else 2
    assert report["frames_out"] == 3 and report["output_hw"] == [29 * scale, 37 * scale]
    psnr = report["psnr"]
    assert psnr["checks"] >= 1 and psnr["checks"] + psnr["skipped_reference_busy"] == 3 and psnr["worst_db"] > 30
    data = tmp_path / "hr"
    rng = np.random.default_rng(1)
    for i in range(2):
        save_image(data / f"{i}.png", rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
    scores = {}
    for artifact in (root / f"{name}{FILES[name]}", engines["fp16"]):
        code, out, err = cli(capsys, "eval", "--model", artifact, "--data", data, "--device", "cpu")
        assert code == 0, err
        scores[artifact.name] = json.loads(out.strip().splitlines()[-1])
        assert scores[artifact.name]["scale"] == scale
        if scale == 1:
            assert "Gaussian noise sigma 10/255" in out
    fp32, fp16 = scores.values()
    assert abs(fp32["mean_psnr"] - fp16["mean_psnr"]) < 0.05  # FP16 scores as FP32, on the user's data


def test_fp16_overflow_layers_stay_fp32(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Compact net with the same FP32 function as a plain one but activations up to ~1e5: plain FP16 gives
    Inf; the FP16 build keeps the overflowing layers FP32 (Cast nodes in the ONNX) and passes the gate."""
    import onnx
    import torch

    from edgesr.export.fp16 import KEEP_KEY, tensor_peaks, to_fp16
    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.export.onnx_io import open_edgesr_onnx
    from edgesr.imageops import load_image, to_nchw
    from edgesr.samples import samples_dir

    torch.manual_seed(0)
    path = save(fp16_overflow(), tmp_path / "overflow.pth")
    export_onnx(path, tmp_path / "overflow.onnx", ExportConfig(parity_sizes=((32, 40),)))
    src = open_edgesr_onnx(tmp_path / "overflow.onnx")
    # Before: the activations an FP16 engine stores leave FP16's range. (ONNX Runtime's CPU provider has no
    # FP16 convolutions on x86: it computes them in FP32 and drops its own casts, so it would not show the Inf a
    # GPU gives; the measured FP32 values say it instead.)
    plain = to_fp16(src)  # no measurement: every layer FP16
    f16 = {v.name for v in onnx.shape_inference.infer_shapes(plain).graph.value_info
           if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16}
    photos = [to_nchw(load_image(f)) for f in sorted(samples_dir("holdout").glob("*.png"))]
    peaks = tensor_peaks(src.model, photos)
    stored = [t for t, (peak, _) in peaks.items() if t in f16 and peak > np.finfo(np.float16).max]
    assert stored and all(np.isinf(np.float16(peaks[t][0])) for t in stored)

    engine = tmp_path / "overflow.fp16.ort.onnx"
    code, out, err = cli(capsys, "build-engine", tmp_path / "overflow.onnx", "--fp16", "-o", engine, *BUILD,
                         "--calib-data", samples_dir("train"))  # where the activation ranges are measured
    assert code == 0, err
    gate = json.loads(Path(f"{engine}.gate.json").read_text())
    convs = [n.name for n in src.model.graph.node if n.op_type == "Conv"]
    assert gate["passed"] and set(convs) <= set(gate["fp16"]["keep_fp32"])
    assert gate["worst_psnr_db"] == "inf" or gate["worst_psnr_db"] > 50
    built = onnx.load(str(engine))
    meta = {p.key: p.value for p in built.metadata_props}
    assert set(json.loads(meta[KEEP_KEY])) == set(gate["fp16"]["keep_fp32"])
    ops = {n.name: n for n in built.graph.node}
    assert all(name in ops for name in convs)  # the kept nodes are still there, by name
    weights = {i.name: i.data_type for i in built.graph.initializer}
    for name in convs:  # their weights stayed FP32
        assert weights[ops[name].input[1]] == onnx.TensorProto.FLOAT
    assert any(n.op_type == "Cast" for n in built.graph.node)

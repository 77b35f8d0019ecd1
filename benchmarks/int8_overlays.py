"""INT8 on camera overlays (docs/overlays.md): Q/DQ ONNX files against the FP32 ONNX, per content class.

For each Q/DQ file: exact Q/DQ arithmetic (ONNX Runtime, Q/DQ fusion off: what TensorRT computes) vs the FP32
ONNX, on the gate's default check set (built-in holdout photos + synthetic camera frames, per class: mean,
worst, max abs error of 255) and on the issue's four 160x120 LR frames (a photo, the same photo with an OSD bar,
ffmpeg's testsrc and smptebars when ffmpeg is installed). Also the FP16 ONNX of the FP32 model on the same sets,
the per-conv input saturation on the OSD frame (calibrated amax vs actual max), and crops of the OSD bar
(INT8 | FP32 | 8x |difference|) written as PNG.

    python benchmarks/int8_overlays.py FP32.onnx NAME=QDQ.onnx [NAME=QDQ.onnx ...] [--json OUT] [--crops DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from PIL import Image, ImageDraw, ImageFont

from edgesr.export.check_images import gate_check_set
from edgesr.export.onnx_io import open_edgesr_onnx
from edgesr.imageops import downscale, from_nchw, load_image, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.samples import samples_dir


def session(model: str | bytes, exact: bool = True) -> ort.InferenceSession:
    so = ort.SessionOptions()
    if exact:
        so.add_session_config_entry("session.disable_quant_qdq", "1")
    so.log_severity_level = 3
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def run(s: ort.InferenceSession, lr: np.ndarray) -> np.ndarray:
    return from_nchw(s.run(None, {s.get_inputs()[0].name: to_nchw(lr)})[0])[0]


def issue_frames() -> dict[str, np.ndarray]:
    """The issue's 160x120 LR frames: a photo, the photo with a white-on-black OSD bar, testsrc, smptebars."""
    photo = downscale(load_image(samples_dir("holdout") / "camera.png")[:480, :512], 4)  # 120 x 128
    photo = np.pad(photo, ((0, 0), (0, 32), (0, 0)), mode="reflect")  # 120 x 160
    im = Image.fromarray(photo.copy())
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 0, 159, 13], fill=(0, 0, 0))
    draw.text((2, 2), "2024-05-17 13:42:07 CAM 01", fill=(255, 255, 255), font=ImageFont.load_default())
    out = {"photo": photo, "photo + OSD bar": np.asarray(im)}
    if shutil.which("ffmpeg"):
        with tempfile.TemporaryDirectory() as tmp:
            for src in ("testsrc", "smptebars"):
                png = Path(tmp) / f"{src}.png"
                lavfi = f"{src}=size=160x120:rate=1"
                cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi, "-frames:v", "1", str(png)]
                subprocess.run(cmd, check=True)
                out[f"ffmpeg {src}"] = load_image(png)
    return out


def stats(a: np.ndarray, b: np.ndarray) -> dict[str, float | int]:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"psnr_db": round(rgb_psnr(a, b), 2), "max_abs_err": int(d.max()), "off_by_gt_32": int((d > 32).sum())}


def saturation(fp32: onnx.ModelProto, qdq: onnx.ModelProto, lr: np.ndarray) -> list[dict[str, object]]:
    """Per conv: calibrated input amax (from the Q/DQ file's scale) vs the input's actual max |x| on ``lr``."""
    scales = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    convs = [n for n in fp32.graph.node if n.op_type == "Conv"]
    m = onnx.ModelProto()
    m.CopyFrom(fp32)
    for n in convs[1:]:
        m.graph.output.append(helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None))
    s = session(m.SerializeToString(), exact=False)
    acts = dict(zip([o.name for o in s.get_outputs()], s.run(None, {"lr": to_nchw(lr)}), strict=True))
    acts["lr"] = to_nchw(lr)
    rows = []
    for n in convs:
        key = f"{n.name}/x_scale"
        if key not in scales:
            continue
        amax = float(scales[key]) * 127
        x = np.abs(acts[n.input[0]])
        top = float(x.max())
        rows.append({"conv": n.name, "amax": round(amax, 3), "max": round(top, 3), "ratio": round(top / amax, 2),
                     "saturated_pct": round(100 * float((x > amax).mean()), 3)})
    return rows


def crop_png(path: Path, lr: np.ndarray, variant: np.ndarray, ref: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """INT8 | FP32 | 8 x |difference| of output region ``box`` (x, y, w, h), 2x nearest for viewing."""
    x, y, w, h = box
    a, b = variant[y : y + h, x : x + w], ref[y : y + h, x : x + w]
    diff = np.clip(8 * np.abs(a.astype(np.int16) - b.astype(np.int16)), 0, 255).astype(np.uint8)
    gap = np.full((h, 4, 3), 255, np.uint8)
    row = np.concatenate([a, gap, b, gap, diff], axis=1)
    Image.fromarray(row).resize((row.shape[1] * 2, row.shape[0] * 2), Image.NEAREST).save(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fp32", type=Path)
    ap.add_argument("qdq", nargs="+", help="NAME=PATH of INT8 Q/DQ ONNX files")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--crops", type=Path)
    a = ap.parse_args()
    src = open_edgesr_onnx(a.fp32)
    from edgesr.export.fp16 import to_fp16

    pairs, classes, _ = gate_check_set(samples_dir("holdout"), src.spec.scale, max_lr=(270, 480), min_lr=(32, 32))
    frames = issue_frames()
    ref_s = session(str(a.fp32), exact=False)
    refs = {p.name: run(ref_s, p.lr) for p in pairs}
    frame_refs = {k: run(ref_s, v) for k, v in frames.items()}
    variants = {"fp16": to_fp16(src).SerializeToString()}
    variants.update({kv.split("=", 1)[0]: str(Path(kv.split("=", 1)[1])) for kv in a.qdq})
    result: dict[str, object] = {}
    for name, model in variants.items():
        s = session(model)
        per_class: dict[str, list[tuple[float, int]]] = {}
        for p in pairs:
            st = stats(run(s, p.lr), refs[p.name])
            per_class.setdefault(classes[p.name], []).append((st["psnr_db"], st["max_abs_err"]))
        table = {c: {"images": len(v), "mean_psnr_db": round(float(np.mean([x for x, _ in v])), 2),
                     "worst_psnr_db": min(x for x, _ in v), "max_abs_err": max(m for _, m in v)}
                 for c, v in per_class.items()}
        outs = {k: run(s, v) for k, v in frames.items()}
        issue = {k: stats(outs[k], frame_refs[k]) for k in frames}
        entry: dict[str, object] = {"classes": table, "issue_frames": issue}
        if name != "fp16":
            qdq = onnx.load(model)
            entry["saturation_osd_frame"] = saturation(src.model, qdq, frames["photo + OSD bar"])
            entry["saturation_photo"] = saturation(src.model, qdq, frames["photo"])
            if a.crops:
                a.crops.mkdir(parents=True, exist_ok=True)
                crop_png(a.crops / f"osd_{name}.png", frames["photo + OSD bar"], outs["photo + OSD bar"],
                         frame_refs["photo + OSD bar"], (0, 0, 320, 72))
        result[name] = entry
        print(name, json.dumps(table), json.dumps(entry["issue_frames"]), flush=True)
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

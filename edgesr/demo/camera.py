"""``edgesr demo``'s camera step: a clip made camera-like, through both shipped models.

The clip is a horizontal pan over a built-in photo whose frames are exact HR crops (so every frame has a ground
truth); each LR frame is the bicubic downscale by 4 of the frame blurred a little (lens, ``BLUR``), plus sensor noise
(Gaussian, ``NOISE`` levels, new every frame), then the whole clip is encoded as H.264 at a low bitrate (``BITRATE``)
and decoded again: what a small camera sends.
Every ``EVERY``-th decoded frame goes through the shipped ``edge_s`` (trained on clean bicubic input) and
``edge_s_camera`` (trained on Real-ESRGAN-style degradations), FP32 ONNX on ONNX Runtime, and is scored (Y-PSNR
against its HR crop); the middle frame becomes a side-by-side PNG: bicubic | edge_s | edge_s_camera | HR.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.degrade import gaussian_blur
from edgesr.demo.media import comparison_png
from edgesr.imageops import downscale, from_nchw, load_image, to_nchw, upscale_bicubic
from edgesr.metrics import sr_psnr_ssim
from edgesr.samples import samples_dir

PHOTO = ("train", "motorcycle_left.png")  # 500x741: room for a 384x512 window to pan
HR_SIZE = (384, 512)
SCALE = 4
BLUR = 1.0  # lens blur: Gaussian sigma in HR pixels, before the downscale (edgesr eval --degrade's blur stage)
NOISE = 6.0  # sensor noise sigma, 8-bit levels, on the LR frames
BITRATE = 60_000  # bit/s for 96x128 at 30 fps: about 0.16 bit per pixel
FPS = 30
EVERY = 15  # 4 of 60 frames scored: each costs ~6 GMAC per model
MODELS = ("edge_s", "edge_s_camera")


def hr_frames(photo: np.ndarray, frames: int) -> list[np.ndarray]:
    """Exact ``HR_SIZE`` crops of ``photo`` panning left to right (whole-pixel steps: no resampling)."""
    h, w = HR_SIZE
    top = (photo.shape[0] - h) // 2
    span = photo.shape[1] - w
    return [photo[top : top + h, x : x + w] for x in np.rint(np.linspace(0, span, frames)).astype(int)]


def camera_clip(hr: list[np.ndarray], path: Path, seed: int = 0) -> list[np.ndarray]:
    """LR frames with sensor noise, encoded to ``path`` as low-bitrate H.264 (.mp4), decoded back (the LR input)."""
    import av

    rng = np.random.default_rng(seed)
    lrs = [downscale(gaussian_blur(f, BLUR) if BLUR else f, SCALE) for f in hr]
    noisy = [np.clip(np.rint(lr + rng.normal(0.0, NOISE, lr.shape)), 0, 255).astype(np.uint8) for lr in lrs]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = noisy[0].shape[1], noisy[0].shape[0], "yuv420p"
        stream.bit_rate = BITRATE
        stream.options = {"preset": "veryfast"}
        for img in noisy:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    with av.open(str(path)) as clip:
        return [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]


def run_camera_step(out_dir: Path, frames: int, add: Any) -> dict[str, Any]:
    """Make the clip, score both shipped models on it, write the PNG; ``add`` registers each file made."""
    from edgesr.runtime import open_runner
    from edgesr.zoo import shipped

    split, name = PHOTO
    hr = hr_frames(load_image(samples_dir(split) / name), frames)
    clip = add(out_dir / "camera_clip.mp4")
    lrs = camera_clip(hr, clip)
    picks = list(range(0, len(lrs), EVERY))
    middle = picks[len(picks) // 2]
    scores: dict[str, list[float]] = {"bicubic": [], **{m: [] for m in MODELS}}
    shown: dict[str, np.ndarray] = {}
    for i in picks:
        bic = upscale_bicubic(lrs[i], SCALE)
        scores["bicubic"].append(sr_psnr_ssim(bic, hr[i], SCALE)[0])
        if i == middle:
            shown["bicubic"] = bic
    for model in MODELS:
        with open_runner(shipped(model).path("onnx")) as runner:
            for i in picks:
                sr = from_nchw(runner.infer(to_nchw(lrs[i])))[0]
                scores[model].append(sr_psnr_ssim(sr, hr[i], SCALE)[0])
                if i == middle:
                    shown[model] = sr
    mean = {k: round(float(np.mean(v)), 3) for k, v in scores.items()}
    png = add(out_dir / "camera_comparison.png")
    comparison_png(png, [
        (f"camera input, bicubic: {mean['bicubic']:.2f} dB", shown["bicubic"]),
        (f"edge_s (clean-trained): {mean['edge_s']:.2f} dB", shown["edge_s"]),
        (f"edge_s_camera: {mean['edge_s_camera']:.2f} dB", shown["edge_s_camera"]),
        ("HR ground truth", hr[middle]),
    ])
    return {
        "clip": str(clip), "png": str(png), "photo": name, "frames": len(lrs), "scored_frames": len(picks),
        "lr_size": list(lrs[0].shape[:2]), "blur_sigma": BLUR, "noise_sigma": NOISE, "bitrate": BITRATE,
        "y_psnr_db": mean,
    }

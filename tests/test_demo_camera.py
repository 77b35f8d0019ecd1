"""``edgesr demo``'s camera step on real components: a noisy low-bitrate H.264 clip, both shipped models (ONNX
Runtime), scores against the HR frames, the side-by-side PNG."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from edgesr.demo import camera
from edgesr.demo.media import GAP, LABEL_H
from edgesr.imageops import downscale, load_image


def test_camera_clip_is_noisy_low_bitrate_h264(tmp_path: Path) -> None:
    photo = load_image(camera.samples_dir(camera.PHOTO[0]) / camera.PHOTO[1])
    hr = camera.hr_frames(photo, 6)
    assert all(f.shape[:2] == camera.HR_SIZE for f in hr) and not np.array_equal(hr[0], hr[-1])
    np.testing.assert_array_equal(hr[0], photo[(photo.shape[0] - 384) // 2 :][:384, :512])  # exact crops
    lrs = camera.camera_clip(hr, tmp_path / "c.mp4")
    assert len(lrs) == 6 and lrs[0].shape == (96, 128, 3)
    with av.open(str(tmp_path / "c.mp4")) as clip:
        assert clip.streams.video[0].codec_context.name == "h264"
    clean = downscale(hr[3], 4).astype(np.float64)
    err = np.abs(lrs[3] - clean).mean()
    assert 2.0 < err < 20.0  # degraded, still the same picture


def test_camera_step_scores_both_models_and_writes_four_panels(tmp_path: Path) -> None:
    made: list[Path] = []
    result = camera.run_camera_step(tmp_path, 16, lambda p: made.append(p) or p)
    assert {p.name for p in made} == {"camera_clip.mp4", "camera_comparison.png"}
    assert result["scored_frames"] == 2 and set(result["y_psnr_db"]) == {"bicubic", "edge_s", "edge_s_camera"}
    assert all(15 < v < 40 for v in result["y_psnr_db"].values())
    png = load_image(result["png"])
    assert png.shape == (384 + LABEL_H, 4 * 512 + 3 * GAP, 3)

"""Issue 9, classes 5 and 6 (messages): inputs that lie or are degenerate, and files edgesr will not trust,
each end in one clear line (or, for a truncated video, a warning) with the right exit code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import SMALL_PROFILE, cli, one_line_error, tiny_checkpoint

from edgesr.artifact import ShapeProfile, sidecar_path
from edgesr.imageops import save_image
from edgesr.spec import edge_xs


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tinymodel.srresnet_onnx(tmp_path_factory.mktemp("m") / "xs.onnx", edge_xs(4))


def _no_partials(folder: Path) -> None:
    assert not [p.name for p in folder.rglob("*") if ".partial" in p.name or ".tmp" in p.name]


def test_zero_frame_video_is_an_error(capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path) -> None:
    import av

    empty = tmp_path / "empty.mkv"  # a video stream with no frame in it (only the audio track has packets)
    with av.open(str(empty), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        for k in range(5):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, k * 1024
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    out = tmp_path / "out.mp4"
    code, stdout, err = cli(capsys, "stream", "--engine", model, "--video", empty, "-o", out, "-q")
    line = one_line_error(err)
    assert code == 1 and "has no frames" in line and "nothing was written" in line, line
    assert not out.exists() and "frames ->" not in stdout
    _no_partials(tmp_path)


def test_truncated_video_warns_that_the_input_ended_early(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    frames = tinymodel.test_frames(60, 16, 16)
    faststart = {"movflags": "faststart"}  # the index first: a cut file still opens
    full = tinymodel.write_video(tmp_path / "full.mp4", frames, audio=False, container_options=faststart)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    code, stdout, err = cli(capsys, "stream", "--engine", model, "--video", cut, "-o", out, "-q", "--check-every", "0")
    assert code == 0, err
    assert "the input ended early" in err and "of the 60 frames" in err, err
    report = json.loads((tmp_path / "out.report.json").read_text())
    assert 0 < report["frames_out"] < 60


def test_frame_far_beyond_the_engine_is_refused_at_once(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    small = ShapeProfile((16, 16), (32, 48), (48, 64))
    engine = tinymodel.ort_engine(tmp_path / "small.ort.onnx", model, profile=small)
    frames = tmp_path / "frames"
    save_image(frames / "huge.png", np.zeros((3000, 3000, 3), dtype=np.uint8))
    code, _, err = cli(capsys, "stream", "--engine", engine, "--source", frames, "-o", tmp_path / "sr", "-q",
                       "--check-every", "0")
    line = one_line_error(err)
    assert code == 1 and "3000x3000 frame needs" in line and "tiles" in line, line
    assert not list((tmp_path / "sr").glob("*.png"))


def test_hand_edited_sidecar_cannot_mislabel_the_output(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    engine = tinymodel.ort_engine(tmp_path / "m.ort.onnx", model)
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    data["spec"]["scale"] = 2  # the engine is x4
    side.write_text(json.dumps(data))
    video = tinymodel.write_video(tmp_path / "v.mp4", tinymodel.test_frames(3, 16, 16), audio=False)
    code, _, err = cli(capsys, "stream", "--engine", engine, "--video", video, "-o", "none", "-q")
    line = one_line_error(err)
    assert code == 1 and "does not describe this engine" in line, line


@pytest.mark.parametrize("content", ["[1, 2, 3]", '"text"', '{"format": "one"}', "{}"])
def test_sidecar_of_the_wrong_shape_is_malformed(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path, content: str
) -> None:
    engine = tinymodel.ort_engine(tmp_path / "m.ort.onnx", model)
    sidecar_path(engine).write_text(content)
    code, _, err = cli(capsys, "stream", "--engine", engine, "--source", tmp_path, "-o", "none", "-q")
    line = one_line_error(err)
    assert code == 1 and "malformed engine sidecar" in line, line


def test_build_engine_on_onnx_whose_metadata_lies(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    import onnx

    m = onnx.load(str(model))
    for p in m.metadata_props:
        if p.key == "edgesr.spec":
            spec = json.loads(p.value)
            spec["scale"] = 2
            p.value = json.dumps(spec)
    lie = tmp_path / "lie.onnx"
    onnx.save(m, str(lie))
    out = tmp_path / "lie.ort.onnx"
    code, _, err = cli(capsys, "build-engine", lie, "-o", out, "--backend", "onnxruntime", *SMALL_PROFILE)
    line = one_line_error(err)
    assert code == 1 and "lie.onnx" in line and "does not describe" in line, line  # incompatible, not the gate (3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lie.onnx"]


def test_untrusted_pickle_is_refused_naming_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import argparse

    import torch

    evil = tmp_path / "evil.pt"
    torch.save({"spec": {}, "generator": {}, "payload": argparse.Namespace(x=1)}, evil)
    img = tmp_path / "a.png"
    save_image(img, np.zeros((16, 16, 3), dtype=np.uint8))
    code, _, err = cli(capsys, "upscale", img, "-o", tmp_path / "b.png", "-c", evil)
    line = one_line_error(err)
    assert code == 1 and f"{evil} is not a trusted edgesr checkpoint" in line and len(line) < 250, line
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("command", ["eval", "train --val"])
def test_folder_role_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    tiny = tmp_path / "tiny"
    save_image(tiny / "a.png", np.zeros((4, 4, 3), dtype=np.uint8))  # smaller than one x4 LR pixel
    if command == "eval":
        args = ["eval", "--bicubic", "--data", tiny]
        role = "evaluation"
    else:
        data = tmp_path / "data"
        for i in range(2):
            save_image(data / f"{i}.png", np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        args = ["train", "--out", tmp_path / "run", "--data", data, "--val", tiny, "--preset", "edge_xs",
                "--crop", "32", "--batch", "2", "--steps", "1", "--device", "cpu", "--amp", "off"]
        role = "validation"
    code, _, err = cli(capsys, *args)
    assert code == 1 and f"error: no usable {role} image in {tiny}" in err, err


def test_huge_image_warning_is_one_edgesr_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from PIL import Image

    img = tmp_path / "big.png"
    save_image(img, np.zeros((64, 64, 3), dtype=np.uint8))
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 3000  # the same path a real 200-megapixel photo takes, on a small file
    try:
        code, _, err = cli(capsys, "upscale", img, "-o", tmp_path / "sr.png", "-c", tiny_checkpoint(tmp_path / "g.pt"))
    finally:
        Image.MAX_IMAGE_PIXELS = old
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if "warning" in ln.lower()]
    assert warnings == [f"warning: {img} is 64x64 (0.0 megapixels): decoding it needs about 0.0 GiB of memory"], err

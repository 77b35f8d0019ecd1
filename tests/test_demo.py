"""``edgesr demo`` end to end on real components: a real (tiny) training run on the built-in samples,
real export, real ONNX Runtime FP16/INT8 engines through the accuracy gate, a real H.264 clip streamed
through the INT8 engine, and a real comparison PNG. Small frame count and engine shapes keep it quick;
the code path is the one ``edgesr demo`` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_helpers import cli, one_line_error, session_cache, tiny_checkpoint
from PIL import Image

from edgesr.imageops import downscale, from_nchw, mod_crop, read_image, to_nchw, upscale_bicubic
from edgesr.runtime import open_runner

pytest.importorskip("torch")

FRAMES = 8
LR = (48, 64)  # small clip frames and engine shapes keep the test quick on 2 cores
MAX = (64, 80)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[str]]:
    from edgesr.demo.run import DemoConfig, Reporter, run_demo

    out = tmp_path_factory.mktemp("demo") / "edgesr-demo"
    said: list[str] = []
    ui = Reporter(step=lambda i, n, text: said.append(f"[{i}/{n}] {text}"), info=said.append)
    cfg = DemoConfig(
        out=out, train_steps=2, frames=FRAMES, lr_size=LR, max_shape=MAX, calib_images=4, check_every=3
    )
    with session_cache(tmp_path_factory):
        summary = run_demo(cfg, ui)
    return out, summary, said


@pytest.mark.slow
def test_demo_makes_every_artifact(demo_run: tuple[Path, dict[str, Any], list[str]]) -> None:
    out, summary, said = demo_run
    assert [line[:5] for line in said if line.startswith("[")] == [f"[{i}/8]" for i in range(1, 9)]
    assert set(summary["camera"]["y_psnr_db"]) == {"bicubic", "edge_s", "edge_s_camera"}  # the shipped models
    from edgesr.backends import backend

    why = backend("tensorrt").probe()  # the backend table's reason, said by the demo
    assert why and any(f"TensorRT is not usable here ({why}): using ONNX Runtime" in line for line in said)
    assert summary["model"]["source"] == "trained 2 steps on the built-in samples"
    assert not (out / "train").exists()  # intermediate run folder removed without --keep
    on_disk = json.loads((out / "demo.json").read_text())
    assert on_disk["artifacts"] == summary["artifacts"]
    for key, path in summary["artifacts"].items():
        assert Path(path).is_file(), key


@pytest.mark.slow
def test_demo_engines_open_and_passed_their_gates(demo_run: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, summary, _ = demo_run
    for precision, floor in (("fp16", 50.0), ("int8", 42.0)):
        gate = summary["gates"][precision]
        assert gate["passed"] is True
        assert isinstance(gate["worst_psnr_db"], float) and gate["worst_psnr_db"] >= floor
        with open_runner(gate["engine"]) as r:
            assert (r.backend, r.precision, r.spec.scale) == ("onnxruntime", precision, 4)
            y = r.infer(np.random.default_rng(0).random((1, 3, 40, 48), dtype=np.float32))
            assert y.shape == (1, 3, 160, 192) and np.isfinite(y).all()
    assert summary["export"]["parity_worst_db"] >= 60


def _decode(path: str) -> list[np.ndarray]:
    import av

    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.mark.slow
def test_demo_clip_moves_and_stream_video_is_side_by_side(demo_run: tuple[Path, dict[str, Any], list[str]]) -> None:
    _, summary, _ = demo_run
    clip = _decode(summary["artifacts"]["clip"])
    assert len(clip) == FRAMES and clip[0].shape == (*LR, 3)
    assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 10  # pan and zoom: it moves
    video = _decode(summary["artifacts"]["stream_video"])
    assert len(video) == FRAMES and video[0].shape == (4 * LR[0], 2 * 4 * LR[1], 3)  # bicubic | SR, x4
    st = summary["stream"]
    assert st["engine"] == summary["gates"]["int8"]["engine"]
    assert (st["frames_in"], st["frames_out"], st["end_reason"]) == (FRAMES, FRAMES, "end of input")
    assert st["fps"] > 0 and st["psnr_checks"] >= 1
    assert st["psnr_worst_db"] >= 42 and st["psnr_mean_db"] >= st["psnr_worst_db"]
    report = json.loads(Path(st["report"]).read_text())
    assert report["frames_out"] == FRAMES and report["psnr"]["checks"] == st["psnr_checks"]


@pytest.mark.slow
def test_demo_comparison_png_has_three_true_panels(demo_run: tuple[Path, dict[str, Any], list[str]]) -> None:
    from edgesr.demo.media import GAP, LABEL_H
    from edgesr.pairs import centre_crop
    from edgesr.samples import samples_dir

    _, summary, _ = demo_run
    c = summary["comparison"]
    png = np.asarray(Image.open(c["png"]).convert("RGB"))
    h, w = c["hr_size"]
    assert png.shape == (h + LABEL_H, 3 * w + 2 * GAP, 3)
    panels = [png[LABEL_H:, i * (w + GAP) : i * (w + GAP) + w] for i in range(3)]
    rgb, _ = read_image(samples_dir("holdout") / c["image"])
    hr = mod_crop(centre_crop(rgb, 4 * MAX[0], 4 * MAX[1]), 4)  # the engines take at most MAX
    assert hr.shape[:2] == (h, w) == (4 * MAX[0], 4 * MAX[1])
    lr = downscale(hr, 4)
    with open_runner(c["engine"]) as r:
        sr = from_nchw(r.infer(to_nchw(lr)))[0]
    np.testing.assert_array_equal(panels[0], upscale_bicubic(lr, 4))
    np.testing.assert_array_equal(panels[1], sr)
    np.testing.assert_array_equal(panels[2], hr)
    assert png[:LABEL_H].min() < 128  # the label bars carry text
    assert isinstance(c["y_psnr_bicubic_db"], float) and isinstance(c["y_psnr_sr_db"], float)


@pytest.mark.slow
def test_demo_summary_table_renders(demo_run: tuple[Path, dict[str, Any], list[str]]) -> None:
    from rich.console import Console

    from edgesr.cli.demo_cmd import summary_table

    _, summary, _ = demo_run
    console = Console(width=200, record=True)
    console.print(summary_table(summary))
    text = console.export_text()
    for needle in ("fp16 engine", "int8 engine", "gate passed", "stream", "comparison.png", "demo.json"):
        assert needle in text


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    code, _, err = cli(capsys, "demo", "--out", mine)
    assert code == 2 and "not an edgesr demo folder" in one_line_error(err)
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


def test_demo_refuses_conflicting_model_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    code, _, err = cli(capsys, "demo", "--out", tmp_path / "d", "--checkpoint", ckpt, "--train-steps", "3")
    assert code == 2 and "conflict" in one_line_error(err)
    assert not (tmp_path / "d").exists()


def test_previous_demo_is_replaced_but_other_files_are_kept(tmp_path: Path) -> None:
    from edgesr.demo.output import MARKER, DemoDir
    from edgesr.errors import UsageError

    root = tmp_path / "edgesr-demo"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"old")
    (root / "train").mkdir()
    (root / "train" / "last.pt").write_bytes(b"old")
    (root / "notes.txt").write_text("mine")
    (root / MARKER).write_text(json.dumps({"files": ["model.onnx", "train", "../outside"]}))
    (tmp_path / "outside").write_text("never touched")
    with pytest.raises(UsageError, match="belongs to the previous demo"):
        DemoDir.prepare(root, keep_safe=root / "train" / "last.pt")
    assert (root / "model.onnx").exists()  # refused before removing anything
    d = DemoDir.prepare(root)
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "notes.txt"]
    assert (tmp_path / "outside").read_text() == "never touched"
    d.add(root / "clip.mp4")
    assert json.loads((root / MARKER).read_text())["files"] == ["clip.mp4"]


@pytest.mark.gpu
def test_demo_uses_tensorrt_on_a_gpu(tmp_path: Path) -> None:
    from test_runtime_trt import _gpu_or_skip

    from edgesr.demo.run import DemoConfig, run_demo

    _gpu_or_skip()
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    summary = run_demo(DemoConfig(out=tmp_path / "demo", checkpoint=ckpt, frames=FRAMES, calib_images=4))
    assert summary["backend"]["name"] == "tensorrt"
    for precision in ("fp16", "int8"):
        gate = summary["gates"][precision]
        assert gate["passed"], f"{precision} gate refused the engine: {gate.get('error')}"  # the gate's message
        engine = gate["engine"]
        assert engine.endswith(f"model.{precision}.engine")
        with open_runner(engine) as r:
            assert (r.backend, r.precision) == ("tensorrt", precision)
    st = summary["stream"]
    assert st["engine"].endswith(".engine") and st["frames_out"] == FRAMES and st["psnr_checks"] >= 1
    assert len(_decode(st["output"])) == FRAMES
    assert Path(summary["comparison"]["png"]).is_file()

"""Issue 22: many sources through one engine. Three file sources of two sizes with templated outputs keep
every frame, each stream gets exactly its own frames back (batching never mixes streams), the report shows
batches of more than one frame; refusals are one line; the live-view grid in headless Chromium."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import cli, one_line_error
from PIL import Image

from edgesr.imageops import from_nchw, load_image, save_image, to_nchw
from edgesr.runtime import open_runner
from edgesr.runtime.stream_multi import expand, stream_name


def _folder(root: Path, name: str, frames: list[np.ndarray]) -> Path:
    for i, img in enumerate(frames):
        save_image(root / name / f"{i:04d}.png", img)
    return root / name


def test_three_sources_two_sizes_templated_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    inputs = {
        "a": tinymodel.test_frames(12, 16, 24, seed=1),
        "b": tinymodel.test_frames(17, 16, 24, seed=2),
        "c": tinymodel.test_frames(9, 20, 28, seed=3),  # another size: batched alone
    }
    folders = [_folder(tmp_path, n, f) for n, f in inputs.items()]
    args = ["stream", "-e", str(model), *[a for f in folders for a in ("--source", str(f))],
            "-o", str(tmp_path / "out_{name}"), "-o", str(tmp_path / "v{i}.mp4"), "--batch-timeout", "200",
            "--check-every", "0", "-q"]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    rep = json.loads((tmp_path / "out_a" / "report.json").read_text())
    assert [s["name"] for s in rep["streams"]] == ["a", "b", "c"]
    assert [(s["frames_in"], s["frames_out"], s["ended"]) for s in rep["streams"]] == [
        (12, 12, "end of input"), (17, 17, "end of input"), (9, 9, "end of input")]
    assert rep["frames_out"] == 38 and rep["end_reason"] == "end of input"
    assert rep["batches"]["max"] == 2 and rep["batches"]["mean"] > 1  # a and b share batches; c has its own shape
    assert rep["streams"][2]["output"] == [str(tmp_path / "out_c"), str(tmp_path / "v2.mp4")]
    with open_runner(model) as runner:  # every stream got its own frames, in order, as one-frame calls give
        for name, frames in inputs.items():
            written = sorted((tmp_path / f"out_{name}").glob("*.png"))
            assert len(written) == len(frames)
            for png, lr in zip(written, frames, strict=True):
                want = from_nchw(runner.infer(to_nchw(lr)))[0]
                assert np.abs(load_image(png).astype(int) - want).max() <= 1  # batch vs single: float rounding
    import av

    for i, frames in enumerate(inputs.values()):
        with av.open(str(tmp_path / f"v{i}.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == len(frames)
    assert "[2] c: 9 of 9 frames" in out and "max 2" in out


def test_names_and_templates() -> None:
    assert stream_name("/data/cams/front.mp4") == "front"
    assert stream_name("rtsp://10.0.0.2:8554/yard?x=1") == "yard"
    assert stream_name("/dev/video2") == "video2" and stream_name("csi://1") == "csi1"
    assert expand("out_{i}_{name}.mp4", 3, "yard") == "out_3_yard.mp4" and expand("none", 0, "a") is None


@pytest.mark.parametrize(
    "outputs,words",
    [
        (["out.mp4"], "2 sources cannot share one video output; use a template with {i} or {name}"),
        (["frames"], "cannot share one folder output; use a template with {i} or {name}, e.g."),
        (["display"], "cannot share one display output"),
        (["rtsp://:8554/sr"], "cannot share one rtsp output; use a template with {i} or {name}, e.g. rtsp://:8554/sr{i}"),
        (["o_{j}.mp4"], "unknown field {j}"),
        (["o_{name}.mp4"], "is given twice"),  # both sources are named "a"
    ],
)
def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str], outputs: list[str], words: str) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    a = _folder(tmp_path, "a", tinymodel.test_frames(2, 16, 16))
    other = _folder(tmp_path / "x", "a", tinymodel.test_frames(2, 16, 16))
    before = sorted(tmp_path.rglob("*"))
    code, _, err = cli(capsys, "stream", "-e", str(model), "--source", str(a), "--source", str(other),
                       *[a for o in outputs for a in ("-o", str(tmp_path / o) if o[0].isalpha() and ":" not in o
                                                       and o != "display" else o)], "-q")
    assert code == 2 and words in one_line_error(err)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_mixed_source_flags_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    code, _, err = cli(capsys, "stream", "-e", str(model), "--source", "a", "--camera", "0", "-o", "none")
    assert code == 2 and "each repeatable" in one_line_error(err)


# -- the live view grid in a real browser -------------------------------------------------------------------------
def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


@pytest.mark.slow
def test_grid_in_headless_chromium(tmp_path: Path) -> None:
    from netout_env import Stream, chromium, project_python, screenshot

    browser = chromium()
    fp32 = tinymodel.tiny_onnx(tmp_path / "fp32.onnx")
    fp16 = tinymodel.tiny_onnx(tmp_path / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(tmp_path / "eng" / "m.engine", fp16, reference=fp32, precision="fp16")
    stills = tinymodel.test_frames(3, 48, 64, seed=7)  # one still scene per stream, many frames each
    for k, lr in enumerate(stills):
        lr[..., k] = 255 - lr[..., k]  # each stream its own colour cast: cells told apart at a glance
    folders = []
    for k, lr in enumerate(stills):
        folder = tmp_path / f"cam{k}"
        folder.mkdir()
        save_image(folder / "f00000.png", lr)
        for i in range(1, 4000):
            os.link(folder / "f00000.png", folder / f"f{i:05d}.png")
        folders.append(folder)
    with open_runner(engine) as eng:
        expected = [from_nchw(eng.infer(to_nchw(lr)))[0] for lr in stills]
    args = ["--engine", str(engine), *[a for f in folders for a in ("--source", str(f))], "-o", "http://127.0.0.1:0",
            "--check-every", "15", "--threads", "1"]
    stream = Stream(project_python(), args, tmp_path)
    try:
        base = stream.served_url("http")
        deadline = time.monotonic() + 60
        while json.loads(fetch(base + "stats.json"))["frames_out"] < 60 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # a few grid refreshes: every cell holds its stream's frame and its label
        shot = screenshot(browser, base, tmp_path / "grid.png", (1000, 560))
        grid = np.asarray(Image.open(io.BytesIO(fetch(base + "frame.jpg"))).convert("RGB"))
    finally:
        code, out, err = stream.stop()
    assert code == 130, err[-2000:]
    assert grid.shape == (2 * 192, 2 * 256, 3)  # 3 streams: 2x2 cells of 192x256 (48x64 x4)
    for k, want in enumerate(expected):
        y, x = (k // 2) * 192, (k % 2) * 256
        cell = grid[y + 16 : y + 192, x : x + 256].astype(float)  # below the label bar
        own = np.abs(cell - want[16:]).mean()  # JPEG q90 of noise-like test frames: a few levels
        others = [np.abs(cell - w[16:]).mean() for j, w in enumerate(expected) if j != k]
        assert own < 8.0 and min(others) > 5 * own, (k, own, others)  # its own stream's picture, not another's
    assert np.asarray(grid[2 * 192 - 100 :, 256 + 100 :]).mean() < 40  # the empty 4th cell stays dark
    page = np.asarray(Image.open(shot).convert("RGB"))
    assert page.std() > 20  # the page rendered (not blank)
    rep_line = [line for line in out.splitlines() if line.startswith("  [")]
    assert len(rep_line) == 3
    keep = os.environ.get("EDGESR_KEEP_GRID_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


# -- engines with a batch profile ------------------------------------------------------------------------------------
def test_tensorrt_profile_is_min_1_opt_n_max_n_and_streams_batch_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the fake tensorrt/pycuda modules (no GPU here): the builder's profile, then a 3-stream run whose
    batches go through the TensorRT runner's real code."""
    from export_helpers import SMALL_PROFILE
    from fake_trt import PLAN_MAGIC, FakeGPU

    from edgesr.runtime import trt_common

    monkeypatch.setattr(trt_common, "_LOGGER", None)
    monkeypatch.setattr(trt_common, "_CHECKED", set())
    monkeypatch.setattr(trt_common, "_PRIMARY", {})
    FakeGPU("10.3.0.30", set()).install(monkeypatch)
    onnx_path = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    engine = tmp_path / "m.engine"
    code, _, err = cli(capsys, "build-engine", onnx_path, "-o", engine, "--backend", "tensorrt", *SMALL_PROFILE,
                       "--max-batch", "3")
    assert code == 0, err
    head = json.loads(engine.read_bytes()[len(PLAN_MAGIC):].split(b"\n", 1)[0])
    mn, opt, mx = head["profile"]
    assert (mn[0], opt[0], mx[0]) == (1, 3, 3)
    folders = [_folder(tmp_path, f"s{k}", tinymodel.test_frames(8, 24, 32, seed=k)) for k in range(3)]
    code, _, err = cli(capsys, "stream", "-e", engine, *[a for f in folders for a in ("--source", str(f))],
                       "-o", str(tmp_path / "o{i}"), "--batch-timeout", "500", "--check-every", "0", "-q")
    assert code == 0, err
    rep = json.loads((tmp_path / "o0" / "report.json").read_text())
    assert [s["frames_out"] for s in rep["streams"]] == [8, 8, 8] and rep["batches"]["max"] == 3


def test_onnxruntime_engine_batches_up_to_its_max_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from export_helpers import SMALL_PROFILE

    onnx_path = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    engine = tmp_path / "m.ort.onnx"
    code, _, err = cli(capsys, "build-engine", onnx_path, "-o", engine, "--backend", "onnxruntime", *SMALL_PROFILE,
                       "--max-batch", "2")
    assert code == 0, err
    folders = [_folder(tmp_path, f"s{k}", tinymodel.test_frames(6, 24, 32, seed=k)) for k in range(3)]
    code, _, err = cli(capsys, "stream", "-e", engine, *[a for f in folders for a in ("--source", str(f))],
                       "-o", str(tmp_path / "o{i}"), "--batch-timeout", "500", "--check-every", "0", "-q")
    assert code == 0, err
    rep = json.loads((tmp_path / "o0" / "report.json").read_text())
    assert [s["frames_out"] for s in rep["streams"]] == [6, 6, 6] and rep["batches"]["max"] == 2  # the engine's cap


def test_cpu_batches_split_into_a_call_per_core_keep_every_stream_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONNX Runtime on the CPU: a batch of 4 frames runs as parts on 3 "cores" (three calls at once, each one
    intra-op thread); every stream still gets exactly its own frames, in order, as one-frame calls give."""
    import threading

    import edgesr.runtime.ort_runner as ort_runner

    monkeypatch.setattr(ort_runner, "cpu_cores", lambda: 3)
    calls: list[tuple[int, str]] = []
    real = ort_runner.OnnxRuntimeRunner._infer

    def observed(self: ort_runner.OnnxRuntimeRunner, x: np.ndarray) -> np.ndarray:
        calls.append((len(x), threading.current_thread().name))
        return real(self, x)

    monkeypatch.setattr(ort_runner.OnnxRuntimeRunner, "_infer", observed)
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    inputs = [tinymodel.test_frames(7, 16, 24, seed=20 + k) for k in range(4)]
    folders = [_folder(tmp_path, f"s{k}", f) for k, f in enumerate(inputs)]
    code, _, err = cli(capsys, "stream", "-e", str(model), *[a for f in folders for a in ("--source", str(f))],
                       "-o", str(tmp_path / "o{i}"), "--batch-timeout", "500", "--check-every", "0", "-q")
    assert code == 0, err
    rep = json.loads((tmp_path / "o0" / "report.json").read_text())
    assert [s["frames_out"] for s in rep["streams"]] == [7] * 4 and rep["batches"]["max"] == 4
    assert (2, "edgesr-batch") in calls and any(n == 1 and t.startswith("edgesr-infer") for n, t in calls)
    assert max(n for n, _ in calls) == 2  # 4 frames in 3 parts: 2 + 1 + 1
    with open_runner(model) as runner:
        for k, frames in enumerate(inputs):
            written = sorted((tmp_path / f"o{k}").glob("*.png"))
            assert len(written) == len(frames)
            for png, lr in zip(written, frames, strict=True):
                want = from_nchw(runner.infer(to_nchw(lr)))[0]
                assert np.abs(load_image(png).astype(int) - want).max() <= 1


# -- --streams streams.toml ------------------------------------------------------------------------------------------
def test_streams_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    a = _folder(tmp_path, "a", tinymodel.test_frames(10, 16, 24, seed=1))
    b = _folder(tmp_path, "b", tinymodel.test_frames(10, 16, 24, seed=2))
    conf = tmp_path / "streams.toml"
    conf.write_text(f"""# two cameras
batch_timeout_ms = 200
output = "{tmp_path}/all_{{name}}"

[[stream]]
source = "{a}"
name = "door"
output = ["{tmp_path}/door.mp4"]
max_frames = 4

[[stream]]
source = "file://{b}"
check_every = 0
""")
    code, out, err = cli(capsys, "stream", "-e", str(model), "--streams", str(conf), "--check-every", "0", "-q")
    assert code == 0, err
    rep = json.loads((tmp_path / "all_door" / "report.json").read_text())
    door, other = rep["streams"]
    assert (door["name"], door["frames_out"], door["ended"]) == ("door", 4, "max frames reached (4)")
    assert door["output"] == [f"{tmp_path}/all_door", f"{tmp_path}/door.mp4"]
    assert (other["name"], other["frames_out"], other["ended"]) == ("b", 10, "end of input")
    assert len(list((tmp_path / "all_b").glob("*.png"))) == 10 and (tmp_path / "door.mp4").is_file()


@pytest.mark.parametrize(
    "body,words",
    [
        ('[[stream]]\nsource = "a"\n\n[[stream]]\nsorce = "b"\n', "streams.toml:5: unknown key 'sorce' in [[stream]]"),
        ('[[stream]]\nsource = "a"\nmax_frames = "ten"\n', "streams.toml:3: max_frames must be an integer"),
        ('[[stream]]\nsource = "a"\n[[stream]]\nname = "x"\n', "streams.toml:3: this [[stream]] has no source"),
        ('[[stream]]\nsource = "a"\noutput = "rtmp://h/x"\n', "streams.toml:3: --output rtmp://h/x: unknown scheme"),
        ('[[stream]]\nsource = "a"\nreconnect = -1\n', "streams.toml:3: reconnect must be >= 0"),
        ('cameras = 2\n[[stream]]\nsource = "a"\n', "streams.toml:1: unknown key 'cameras'"),
        ('[[stream]]\nsource = "a\n', "streams.toml:2: not valid TOML"),
        ('batch_timeout_ms = 5\n', "streams.toml:1: no [[stream]] table"),
    ],
)
def test_streams_file_errors_name_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                           words: str) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "x4.onnx", scale=4)
    conf = tmp_path / "streams.toml"
    conf.write_text(body)
    code, _, err = cli(capsys, "stream", "-e", str(model), "--streams", str(conf), "-o", "none")
    assert code in (1, 2) and words in one_line_error(err)


def test_streams_file_with_source_flags_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "streams.toml"
    conf.write_text('[[stream]]\nsource = "a"\n')
    code, _, err = cli(capsys, "stream", "--streams", str(conf), "--source", "b", "-o", "none")
    assert code == 2 and "names the sources: drop --source" in one_line_error(err)

"""The stream pipeline on real components: order kept, outputs identical to the runner's, max-frames,
side-by-side, automatic tiling, the accuracy gate, and live sources that drop frames and go away."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from test_stream_badinput import cli

from edgesr.artifact import ShapeProfile
from edgesr.imageops import from_nchw, load_image, save_image, to_nchw, upscale_bicubic
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner
from edgesr.runtime.check import CheckConfig
from edgesr.runtime.pipeline import PipelineConfig
from edgesr.runtime.sources import LiveOptions
from edgesr.runtime.stream import StreamSettings, run_stream
from edgesr.runtime.tiling import TileConfig
from edgesr.spec import edge_xs


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tinymodel.tiny_onnx(tmp_path / "x4.onnx")


def test_image_folder_to_pngs_in_order_and_exact(model: Path, tmp_path: Path) -> None:
    frames = tinymodel.test_frames(7, 20, 28)
    for i, img in enumerate(frames):
        save_image(tmp_path / "in" / f"img{i}.png", img)
    report = run_stream(StreamSettings(engine=model, source=str(tmp_path / "in"), output=str(tmp_path / "out"),
                                       quiet=True))
    runner = open_runner(model)
    for i, img in enumerate(frames):
        expected = from_nchw(runner.infer(to_nchw(img)))[0]
        assert np.array_equal(load_image(tmp_path / "out" / f"img{i}.png"), expected)
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report.frames_out == written["frames_in"] == 7
    assert report.report_path == str(tmp_path / "out" / "report.json")
    assert list(written) == list(report.to_dict()) == REPORT_FIELDS  # the file's fields, in their order


REPORT_FIELDS = [  # the stream report file's fields (a folder output: no output_sha256)
    "edgesr_version", "started_at", "source", "engine", "engine_description", "engine_accepts", "output",
    "output_description", "checks", "check_every", "min_psnr", "fail_below", "end_reason", "error", "frames_in",
    "frames_out", "dropped", "skipped", "tiles_per_frame", "input_hw", "output_hw", "duration_s", "fps", "steady_fps",
    "engine_busy_fraction", "latency_ms", "psnr", "warnings", "live",
]


def test_max_frames_and_side_by_side(model: Path, tmp_path: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(30, 16, 24), audio=False)
    report = run_stream(StreamSettings(engine=model, source=str(video), output=str(tmp_path / "sbs"), quiet=True,
                                       pipeline=PipelineConfig(max_frames=5, side_by_side=True)))
    assert report.end_reason == "max frames reached (5)" and report.frames_out == 5
    pngs = sorted((tmp_path / "sbs").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(5)]
    import av

    with av.open(str(video)) as c:
        lr = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    sbs = load_image(pngs[0])
    assert sbs.shape == (64, 2 * 96, 3)
    assert np.array_equal(sbs[:, :96], upscale_bicubic(lr, 4))
    assert np.array_equal(sbs[:, 96:], from_nchw(open_runner(model).infer(to_nchw(lr)))[0])


def test_frames_larger_than_the_engine_are_tiled(model: Path, tmp_path: Path) -> None:
    engine = tinymodel.ort_engine(tmp_path / "e" / "m.engine", model, profile=ShapeProfile((8, 8), (16, 16), (24, 24)))
    img = tinymodel.test_frames(1, 40, 60)[0]
    save_image(tmp_path / "in" / "big.png", img)
    report = run_stream(StreamSettings(engine=engine, source=str(tmp_path / "in"), output=str(tmp_path / "out"),
                                       check=CheckConfig(every=0), tile=TileConfig(overlap=4), quiet=True))
    assert report.tiles_per_frame == 6  # 2 x 3 tiles of 24x24
    whole = from_nchw(open_runner(model).infer(to_nchw(img)))[0]
    assert rgb_psnr(load_image(tmp_path / "out" / "big.png"), whole) >= 50


def test_fail_below_ends_the_run_with_exit_3_and_a_report(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(40, 16, 24), audio=False)
    other = tinymodel.tiny_onnx(tmp_path / "bad.onnx", seed=5)  # a "broken engine": other weights
    code, _, err = cli(capsys, "stream", "--engine", str(other), "--reference", str(model), "--video", str(video),
                       "-o", str(tmp_path / "o.mp4"), "--check-every", "1", "--fail-below", "60", "-q")
    assert code == 3 and "below --fail-below 60" in err
    report = json.loads((tmp_path / "o.report.json").read_text())
    assert report["end_reason"] == "accuracy check failed (--fail-below)" and "fail-below" in report["error"]
    assert 0 < report["frames_out"] < 40 and report["psnr"]["mean_db"] < 60
    assert (tmp_path / "o.mp4").is_file()  # what was done is kept


def test_live_source_drops_frames_and_ends_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="OpenCV (edgesr[video]) is needed for live sources")
    import cv2

    from edgesr.runtime import live, stream

    video = tinymodel.write_video(tmp_path / "cam.mp4", tinymodel.test_frames(200, 60, 80), audio=False)
    slow = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))

    def fake_open_source(uri: str, opts: LiveOptions) -> live.LiveSource:
        src = live.LiveSource(uri, "test camera", lambda: cv2.VideoCapture(str(video)), opts)
        video.unlink()  # unplugged right away: only what the capture already holds is left
        return src

    mp = pytest.MonkeyPatch()
    mp.setattr(stream, "open_source", fake_open_source)
    try:
        report = run_stream(StreamSettings(engine=slow, source="test://cam", output=str(tmp_path / "out"),
                                           live=LiveOptions(reconnect_s=0.2), quiet=True))
    finally:
        mp.undo()
    assert report.dropped > 0 and report.frames_out == report.frames_in > 0
    assert report.frames_in + report.dropped <= 200
    assert report.end_reason.startswith("test camera lost")
    assert report.live == {"reconnects": 0, "outages_s": []}


def test_two_frames_in_flight_keep_order(model: Path, tmp_path: Path) -> None:
    """The pipeline's submit/result path (TensorRT's double buffering), driven by an ONNX Runtime runner
    whose submit really returns before the work is done (a worker pool)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from edgesr.runtime.ort_runner import OnnxRuntimeRunner
    from edgesr.runtime.pipeline import Pipeline
    from edgesr.runtime.sinks import open_sink
    from edgesr.runtime.sources import open_source
    from edgesr.runtime.stats import StreamStats
    from edgesr.runtime.tiling import Tiler

    class PooledRunner(OnnxRuntimeRunner):
        max_in_flight = 2

        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self.pool = ThreadPoolExecutor(2)

        def submit(self, x: np.ndarray) -> object:
            self.check_input(x)
            return self.pool.submit(self._infer, x)

        def result(self, ticket: object) -> np.ndarray:
            assert isinstance(ticket, Future)
            return ticket.result()

    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(25, 16, 24), audio=False)
    runner = PooledRunner(model)
    stats = StreamStats()
    with open_source(str(video)) as source:
        reason = Pipeline(source, Tiler(runner), open_sink(str(tmp_path / "out")), stats).run()
    runner.pool.shutdown()
    assert reason == "end of input" and stats.frames_out == 25
    import av

    with av.open(str(video)) as c:
        lrs = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    plain = open_runner(model)
    for i, lr in enumerate(lrs):
        assert np.array_equal(load_image(tmp_path / "out" / f"{i:06d}.png"), from_nchw(plain.infer(to_nchw(lr)))[0])


def test_an_error_mid_run_keeps_the_output_and_writes_the_report(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    import av

    for i, (h, w) in enumerate([(16, 24), (16, 24), (20, 20), (16, 24)]):  # the third image has another size
        save_image(tmp_path / "in" / f"{i}.png", tinymodel.test_frames(1, h, w, seed=i)[0])
    code, _, err = cli(capsys, "stream", "--engine", str(model), "--source", str(tmp_path / "in"), "-o",
                       str(tmp_path / "o.mp4"), "-q")
    assert code == 1 and "frame 2 is 80x80 but the video is 96x64" in err and len(err.strip().splitlines()) == 1
    report = json.loads((tmp_path / "o.report.json").read_text())
    assert report["end_reason"].startswith("error: frame 2") and report["error"].startswith("frame 2")
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == report["frames_out"] == 2

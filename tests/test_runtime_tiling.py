"""Tiled inference: tiles cover the frame exactly, and stitched output equals untiled output (>= 50 dB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tinymodel

from edgesr.artifact import ShapeProfile
from edgesr.errors import BadInputError, UsageError
from edgesr.imageops import downscale, from_nchw, load_image, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner
from edgesr.runtime.tiling import TileConfig, Tiler, keep_bounds, tile_starts
from edgesr.spec import edge_xs


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (64, 64, 8), (65, 64, 8), (31, 64, 4), (257, 48, 16)])
def test_tiles_cover_the_frame_exactly_once(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:], strict=False))  # at least `overlap` shared
    keep = keep_bounds(starts, size, length)
    assert keep[0][0] == 0 and keep[-1][1] == length
    assert all(k1[1] == k2[0] for k1, k2 in zip(keep, keep[1:], strict=False))  # contiguous, no gap, no double
    for s, (lo, hi) in zip(starts, keep, strict=False):
        assert s <= lo < hi <= s + size  # each tile contributes only pixels it computed


@pytest.fixture(scope="module")
def lr_frame(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """A real photo (Set14 or the built-in samples), downscaled x4 to ~ 120x180 LR."""
    from shared_data import DATA

    candidates = sorted((DATA / "Set14").glob("*.png")) if (DATA / "Set14").is_dir() else []
    if candidates:
        hr = load_image(next(p for p in candidates if "baboon" in p.name or "comic" in p.name))
    else:
        from edgesr.samples import samples_dir

        hr = load_image(sorted(samples_dir("holdout").glob("*.png"))[0])
    return downscale(hr[:480, :720], 4)


@pytest.mark.parametrize("builder", ["tiny", "srresnet"])
def test_tiled_equals_untiled(tmp_path: Path, lr_frame: np.ndarray, builder: str) -> None:
    if builder == "tiny":
        model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    else:
        model = tinymodel.srresnet_onnx(tmp_path / "m.onnx", edge_xs(4))
    runner = open_runner(model)
    x = to_nchw(lr_frame)
    whole = from_nchw(runner.infer(x))[0]
    tiler = Tiler(runner, TileConfig(tile=(48, 64), overlap=16))
    assert tiler.tiles_for(*lr_frame.shape[:2]) > 4
    tiled = from_nchw(tiler.infer(x))[0]
    assert tiled.shape == whole.shape == (lr_frame.shape[0] * 4, lr_frame.shape[1] * 4, 3)
    assert rgb_psnr(tiled, whole) >= 50.0


def test_frames_beyond_the_engine_max_are_tiled_automatically(tmp_path: Path, lr_frame: np.ndarray) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    prof = ShapeProfile((16, 16), (32, 32), (40, 56))
    engine = tinymodel.ort_engine(tmp_path / "e" / "m.engine", model, profile=prof)
    small = open_runner(engine)
    x = to_nchw(lr_frame)
    with pytest.raises(BadInputError, match="40x56"):
        small.infer(x)  # the runner alone refuses, naming what it accepts
    tiler = Tiler(small, TileConfig(overlap=8))
    assert tiler.plan(*lr_frame.shape[:2]) == (40, 56)
    tiled = from_nchw(tiler.infer(x))[0]
    whole = from_nchw(open_runner(model).infer(x))[0]
    assert rgb_psnr(tiled, whole) >= 50.0


def test_tile_settings_are_checked_against_the_engine(tmp_path: Path) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    prof = ShapeProfile((16, 16), (32, 32), (64, 64))
    engine = tinymodel.ort_engine(tmp_path / "e" / "m.engine", model, profile=prof)
    runner = open_runner(engine)
    with pytest.raises(UsageError, match="outside"):
        Tiler(runner, TileConfig(tile=(128, 128)))
    with pytest.raises(UsageError, match="half"):
        Tiler(runner, TileConfig(tile=(32, 32), overlap=16))


class _TwoInFlight:
    """A real ONNX Runtime runner that keeps two frames in flight (as TensorRT's does): ``submit`` only queues,
    ``result`` computes, so the order of work is observable."""

    max_in_flight = 2

    def __init__(self, runner) -> None:  # type: ignore[no-untyped-def]
        self.runner, self.spec, self.profile, self.path = runner, runner.spec, runner.profile, runner.path
        self.queued: list[np.ndarray] = []
        self.order: list[str] = []

    def submit(self, x: np.ndarray) -> int:
        self.queued.append(x)
        return len(self.queued) - 1

    def result(self, ticket: int) -> np.ndarray:
        self.order.append(f"frame {ticket}")
        return self.runner.infer(self.queued[ticket])

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.order.append("tile")
        return self.runner.infer(x)


def test_submit_and_result_mix_whole_and_tiled_frames(tmp_path: Path) -> None:
    """Whole frames stay in flight; a tiled frame first collects them (the runner is free for its tiles); every
    output is the one ``infer`` gives, in submission order."""
    runner = open_runner(tinymodel.tiny_onnx(tmp_path / "m.onnx"))
    two = _TwoInFlight(runner)
    tiler = Tiler(two, TileConfig(tile=(24, 24), overlap=4))  # type: ignore[arg-type]
    a, b = (to_nchw(f) for f in tinymodel.test_frames(2, 20, 20))
    big = to_nchw(tinymodel.test_frames(1, 40, 56)[0])
    assert tiler.max_in_flight == 2
    tickets = [tiler.submit(a), tiler.submit(b)]
    assert two.order == []  # both in flight
    tickets.append(tiler.submit(big))
    assert two.order[:2] == ["frame 0", "frame 1"] and set(two.order[2:]) == {"tile"}  # collected before tiling
    outs = [tiler.result(t) for t in tickets]
    for x, y in zip((a, b, big), outs, strict=True):
        assert y is not None and np.array_equal(y, Tiler(runner, TileConfig(tile=(24, 24), overlap=4)).infer(x))

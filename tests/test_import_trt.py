"""Imported models through the TensorRT builder and runner, with the fake ``tensorrt``/``pycuda`` (``fake_trt``):
a 1-channel (gray) model gets a 1-channel shape profile, and the runner's frames that are not a multiple of a
model's size rule are padded and cropped by ``submit`` as by ``infer`` (one implementation, ``size_rule``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_helpers import SMALL_PROFILE, cli
from import_models import make
from test_trt_review import fake  # noqa: F401 - the fixture

from edgesr.runtime import open_runner


def _export(name: str, root: Path) -> Path:
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    src = make(name, root / f"{name}.pth")
    return export_onnx(src, root / f"{name}.onnx", ExportConfig(parity_sizes=((32, 40),))).path


def test_a_gray_model_gets_a_one_channel_profile_and_runs_rgb_frames(
    fake, capsys: pytest.CaptureFixture[str], tmp_path: Path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    onnx_path = _export("gray", tmp_path)
    gpu = fake("10.3.0.30")
    engine = tmp_path / "gray.engine"
    code, _, err = cli(capsys, "build-engine", onnx_path, "-o", engine, "--backend", "tensorrt", *SMALL_PROFILE,
                       "--max-batch", "3")
    assert code == 0, err
    x = np.random.default_rng(0).random((1, 3, 29, 37), dtype=np.float32)
    with open_runner(engine) as trt, open_runner(onnx_path) as ort:
        assert trt.engine.get_tensor_profile_shape("lr", 0) == [[1, 1, 16, 16], [3, 1, 32, 48], [3, 1, 48, 64]]
        got, want = trt.infer(x), ort.infer(x)
        assert got.shape == (1, 3, 58, 74)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert gpu.counts["plans"] == 1


def test_submit_pads_to_the_window_and_runs_gray_planes_on_a_batch_1_engine(
    fake, capsys: pytest.CaptureFixture[str], tmp_path: Path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    """``submit``/``result`` (what stream uses) give what ``infer`` and ONNX Runtime give: SwinIR (window 4) on a
    frame that is no multiple of 4 is padded and cropped; a gray model on a batch-1 engine runs the three planes of
    an RGB frame one after the other."""
    fake("10.3.0.30")
    x = np.random.default_rng(1).random((1, 3, 29, 37), dtype=np.float32)
    for name in ("swinir", "gray"):
        onnx_path = _export(name, tmp_path)
        engine = tmp_path / f"{name}.engine"
        code, _, err = cli(capsys, "build-engine", onnx_path, "-o", engine, "--backend", "tensorrt", *SMALL_PROFILE)
        assert code == 0, err
        with open_runner(engine) as trt, open_runner(onnx_path) as ort:
            assert trt.max_batch == 1 and trt.max_in_flight == (1 if name == "gray" else 2)
            tickets = [trt.submit(x), trt.submit(x[:, :, :, ::-1].copy())][: trt.max_in_flight]
            got = [trt.result(t) for t in tickets]
            want = ort.infer(x)
            assert got[0].shape == want.shape == (1, 3, 58, 74)
            np.testing.assert_allclose(got[0], want, atol=1e-5)


def test_a_fixed_tile_engine_tiles_every_frame(
    fake, capsys: pytest.CaptureFixture[str], tmp_path: Path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    """SAFMN (exported at a fixed 64x64 tile): a TensorRT engine of exactly that shape, batch 1, through which the
    runner tiles a larger odd frame as ONNX Runtime's runner does."""
    import torch
    from import_models import safmn, save

    from edgesr.export.onnx_export import export_onnx

    torch.manual_seed(0)
    onnx_path = export_onnx(save(safmn().eval(), tmp_path / "safmn.pth"), tmp_path / "safmn.onnx").path
    fake("10.3.0.30")
    engine = tmp_path / "safmn.engine"
    code, _, err = cli(capsys, "build-engine", onnx_path, "-o", engine, "--backend", "tensorrt")
    assert code == 0, err
    x = np.random.default_rng(2).random((1, 3, 70, 101), dtype=np.float32)
    with open_runner(engine) as trt, open_runner(onnx_path) as ort:
        assert trt.engine.get_tensor_profile_shape("lr", 0) == [[1, 3, 64, 64]] * 3
        got = trt.result(trt.submit(x))
        assert got.shape == (1, 3, 140, 202)
        np.testing.assert_allclose(got, ort.infer(x), atol=1e-5)

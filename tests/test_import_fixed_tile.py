"""The fixed-tile fallback of the export, with real architectures: SAFMN (adaptive pooling to a size computed from
H and W: the TorchScript exporter cannot keep H and W dynamic) is exported at a fixed 64x64 LR tile and the runtime
tiles every frame through it (parity against PyTorch on whole frames, a stream of a clip with an odd frame size,
upscale of an odd photo); FFTformer (torch.fft, no ONNX export at any shape) is refused in one line naming the op."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from export_helpers import cli, one_line_error, session_cache
from import_models import fftformer, safmn, save
from test_import_deploy import _odd_clip

from edgesr.metrics import psnr


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Any]]:
    """SAFMN x2 exported (the default parity sizes 64x64 and 96x128: one tile, and several)."""
    from edgesr.export.onnx_export import export_onnx

    root = tmp_path_factory.mktemp("fixed")
    torch.manual_seed(0)
    src = save(safmn().eval(), root / "safmn.pth")
    with session_cache(tmp_path_factory):
        result = export_onnx(src, root / "safmn.onnx")
        yield src, result.path, result


def test_safmn_is_exported_at_a_fixed_tile(exported: tuple[Path, Path, Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    from edgesr.artifact import ONNX_SPEC_KEY

    src, onnx_path, result = exported
    assert result.fixed_why == "the torchscript exporter fails on adaptive pooling"
    assert result.spec.fixed_tile == (64, 64) and result.parity.worst_psnr_db >= 60  # tiled 96x128 included
    proto = onnx.load(str(onnx_path))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 64]  # batch 1, H and W fixed: the graph itself runs at this shape only
    spec = json.loads({p.key: p.value for p in proto.metadata_props}[ONNX_SPEC_KEY])
    assert spec["fixed_tile"] == [64, 64] and spec["arch"] == "SAFMN" and spec["size_multiple"] == 8
    code, out, err = cli(capsys, "export", src, "-o", tmp_path / "s.onnx", "--parity-size", "64x64")
    assert code == 0, err
    text = " ".join(out.split())
    assert "H and W cannot be dynamic (the torchscript exporter fails on adaptive pooling), so exported at a " \
           "fixed 64x64 LR tile: the runtime tiles every frame through it" in text
    assert "Torch IR graph" not in out + err  # the exporter's graph dump on its failure is not shown
    assert "the tile: " in text and "whole frames through it: none checked >= 40 dB: ok" in text


def test_whole_frames_through_the_tile_have_their_own_gate(exported: tuple[Path, Path, Any], tmp_path: Path) -> None:
    """The tile itself must match PyTorch to --min-parity-psnr; whole frames through it (tiled, or padded up to
    it) to --min-tiled-psnr, else nothing is written."""
    from edgesr.errors import AccuracyGateError
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    src, _, result = exported
    sizes = {s.lr_hw: s for s in result.parity.sizes}
    assert not sizes[(64, 64)].tiled and sizes[(96, 128)].tiled
    assert result.parity.worst_tiled_psnr_db == sizes[(96, 128)].psnr_db < result.parity.worst_psnr_db
    with pytest.raises(AccuracyGateError, match=r"through its fixed 64x64 tile, the ONNX differs from PyTorch on "
                                                r"whole frames: PSNR .* < 200 dB \(the tile itself: "):
        export_onnx(src, tmp_path / "s.onnx", ExportConfig(min_tiled_psnr=200))
    assert not (tmp_path / "s.onnx").exists()


@pytest.mark.parametrize("hw", [(17, 23), (64, 64), (70, 150)])
def test_any_frame_size_through_the_tile_matches_pytorch(exported: tuple[Path, Path, Any], hw: tuple[int, int]) -> None:
    """Smaller than the tile (reflect-padded up to it), exactly the tile, and larger (tiled): the ONNX through the
    runner against spandrel's own call of the PyTorch model on the whole frame."""
    import spandrel

    from edgesr.runtime import open_runner

    src, onnx_path, _ = exported
    desc = spandrel.ModelLoader().load_from_file(src)
    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    with open_runner(onnx_path) as runner:
        got = np.clip(runner.infer(x), 0, 1)
    want = desc(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (1, 3, 2 * hw[0], 2 * hw[1])
    db = psnr(got, want, data_range=1.0)
    assert db > (100 if hw == (64, 64) else 55), db  # stated tolerance: docs/import-models.md


def test_stream_and_upscale_of_odd_sizes(exported: tuple[Path, Path, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from edgesr.imageops import load_image, save_image

    _, onnx_path, _ = exported
    clip = _odd_clip(tmp_path / "odd.mkv", frames=2, h=29, w=77)
    code, _, err = cli(capsys, "stream", "--engine", onnx_path, "--video", clip, "-o", tmp_path / "frames",
                       "--check-every", "1", "--quiet", "--report", tmp_path / "report.json")
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["frames_out"] == 2 and report["output_hw"] == [58, 154]
    img = tmp_path / "photo.png"
    save_image(img, np.random.default_rng(0).integers(0, 256, (71, 133, 3), dtype=np.uint8))
    code, out, err = cli(capsys, "upscale", img, "-o", tmp_path / "up.png", "--model", onnx_path)
    assert code == 0, err
    assert load_image(tmp_path / "up.png").shape == (142, 266, 3)


def test_an_architecture_without_any_onnx_export_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    src = save(fftformer().eval(), tmp_path / "fft.pth")
    code, out, err = cli(capsys, "export", src, "-o", tmp_path / "fft.onnx")
    assert code == 1
    assert one_line_error(err) == (
        "error: fft.pth: the FFTformer architecture cannot be exported to ONNX, not even at a fixed 64x64 tile: "
        "aten::fft_rfft2 is not supported by the torchscript exporter at opset 17"
    )
    assert "Torch IR graph" not in out + err and not (tmp_path / "fft.onnx").exists()


def test_fp16_and_int8_engines_take_the_tile_and_stream_any_frame_size(
    exported: tuple[Path, Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgesr.artifact import read_sidecar

    _, onnx_path, _ = exported
    code, _, err = cli(capsys, "build-engine", onnx_path, "--fp16", "-o", tmp_path / "x.onnx", "--backend",
                       "onnxruntime", "--max-shape", "48x64")
    assert code == 2 and one_line_error(err) == (
        "error: --max-shape 48x64: SAFMN x2 (0.00 M params, from safmn.pth) was exported at a fixed 64x64 tile, the "
        "only shape its engines take (every frame is tiled through it); leave the shapes out"
    )
    engines = {}
    for flag in ("--fp16", "--int8"):
        engine = tmp_path / f"safmn.{flag[2:]}.ort.onnx"
        extra = ["--calib-images", "8"] if flag == "--int8" else []
        code, _, err = cli(capsys, "build-engine", onnx_path, flag, "-o", engine, "--backend", "onnxruntime", *extra)
        assert code == 0, err
        gate = json.loads(Path(f"{engine}.gate.json").read_text())
        assert gate["passed"]
        assert read_sidecar(engine).profile.describe() == "64x64 to 64x64 (HxW)"
        engines[flag[2:]] = engine
    assert gate["int8"]["int8_mac_share"] > 0.5
    clip = _odd_clip(tmp_path / "odd.mkv", frames=2, h=29, w=77)
    code, _, err = cli(capsys, "stream", "--engine", engines["int8"], "--video", clip, "-o", tmp_path / "frames",
                       "--check-every", "1", "--quiet", "--report", tmp_path / "report.json")
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["frames_out"] == 2 and report["output_hw"] == [58, 154] and report["psnr"]["worst_db"] > 30

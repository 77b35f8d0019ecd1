"""Imported model files: spandrel's architectures in small random configurations, saved as .pth and .safetensors;
weights-only loading (a malicious pickle does not run); the spec they get; the refusals, one line each."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from export_helpers import cli, one_line_error
from import_models import MODELS, make, save

from edgesr.spec import ModelSpec

EXPECT = {  # arch id, scale, purpose, size multiple, half
    "esrgan": ("ESRGAN", 2, "SR", 1, True),
    "compact": ("Compact", 2, "SR", 1, True),
    "span": ("SPAN", 2, "SR", 1, True),
    "swinir": ("SwinIR", 2, "SR", 4, False),  # window 4: the runtime pads to it
    "x1": ("Compact", 1, "Restoration", 1, True),
    "gray": ("Compact", 2, "SR", 1, True),
}


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_architecture_imports_with_its_spec(tmp_path: Path, name: str, suffix: str) -> None:
    from edgesr.artifact import sha256_file
    from edgesr.export.model_file import load_any

    path = make(name, tmp_path / f"{name}{suffix}")
    model = load_any(path)
    arch, scale, purpose, multiple, half = EXPECT[name]
    spec = model.spec
    got = (spec.arch, spec.scale, spec.purpose, spec.size_multiple, spec.half)
    assert got == (arch, scale, purpose, multiple, half)
    channels = 1 if name == "gray" else 3
    assert spec.in_channels == spec.channels_out == channels and spec.format == 2 and spec.imported
    assert spec.source == {"file": path.name, "sha256": sha256_file(path)}
    assert spec.params == sum(p.numel() for p in MODELS[name]().parameters()) > 0
    assert spec.macs_per_px > 0
    assert ModelSpec.from_json(spec.to_json()) == spec  # what the ONNX metadata and sidecars carry
    x = torch.rand(1, channels, 16, 20)
    with torch.inference_mode():
        assert tuple(model(x).shape) == (1, channels, 16 * scale, 20 * scale)


def test_edgesr_specs_serialise_as_before() -> None:
    """Format-1 specs (edgesr's own checkpoints, ONNX files, sidecars, the shipped model) keep their exact JSON."""
    import onnx

    from edgesr.artifact import ONNX_SPEC_KEY
    from edgesr.spec import edge_s

    shipped = Path(__file__).resolve().parents[1] / "edgesr" / "weights" / "edgesr_edge_s_x4.onnx"
    meta = {p.key: p.value for p in onnx.load(str(shipped), load_external_data=False).metadata_props}
    text = meta[ONNX_SPEC_KEY]
    assert ModelSpec.from_json(text).to_json() == json.dumps(json.loads(text), sort_keys=True)
    assert set(edge_s().to_dict()) == set(json.loads(text)) and edge_s().to_dict()["format"] == 1


class _Payload:
    """Unpickling this calls os.system: what a malicious model file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt"])
def test_a_malicious_pickle_does_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    import pickle

    marker = tmp_path / "pwned"
    evil = tmp_path / f"evil{suffix}"
    state = MODELS["compact"]().state_dict()
    torch.save({**state, "payload": _Payload(marker)}, evil)
    torch.load(evil, weights_only=False)  # plain pickle does run it: the test file is real
    assert marker.exists()
    marker.unlink()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil, weights_only=True)
    for command in (["export", evil, "-o", tmp_path / "m.onnx"], ["inspect", evil]):
        code, _, err = cli(capsys, *command)
        line = one_line_error(err)
        assert code == 1 and "not a trusted edgesr checkpoint or model file" in line and "system" in line, line
        assert not marker.exists()
    assert not (tmp_path / "m.onnx").exists()


def _face_model(path: Path) -> Path:
    from spandrel.architectures.RestoreFormer import RestoreFormer

    torch.manual_seed(0)
    return save(RestoreFormer(n_embed=16, embed_dim=32, ch=32, ch_mult=(1, 1), num_res_blocks=1,
                              attn_resolutions=(16,), resolution=512, z_channels=32), path)


def _colouriser(path: Path) -> Path:
    from spandrel.architectures.Compact import Compact

    return save(Compact(num_in_ch=1, num_out_ch=3, num_feat=8, num_conv=2, upscale=1), path)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("suffix", "model.bin: not a model file edgesr reads; supported: edgesr checkpoints (.pt) and PyTorch weight "
                   "files (.pth, .pt, .ckpt, .safetensors) of an image-to-image architecture spandrel recognises"),
        ("unknown", "model.safetensors: spandrel does not recognise this model; supported: edgesr checkpoints"),
        ("face", "model.pth is a RestoreFormer FaceSR model; edgesr deploys image-to-image super-resolution and "
                 "restoration models (output = scale x input, same channels), not face restoration or inpainting"),
        ("colour", "model.pth is a RealESRGAN Compact model from 1 to 3 channels; edgesr deploys image-to-image "
                   "models with 1 or 3 channels in and the same out (not colourisation)"),
    ],
)
def test_refusals_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, expected: str) -> None:
    if case == "suffix":
        path = tmp_path / "model.bin"
        path.write_bytes(b"\0" * 64)
    elif case == "unknown":
        from safetensors.torch import save_file

        path = tmp_path / "model.safetensors"
        save_file({"encoder.weight": torch.zeros(4, 4), "head.bias": torch.zeros(4)}, str(path))
    elif case == "face":
        path = _face_model(tmp_path / "model.pth")
    else:
        path = _colouriser(tmp_path / "model.pth")
    code, _, err = cli(capsys, "export", path, "-o", tmp_path / "m.onnx")
    assert code == 2 and expected in one_line_error(err)
    assert not (tmp_path / "m.onnx").exists()


def test_output_not_scale_times_input_is_refused(tmp_path: Path) -> None:
    """A model whose output is not the descriptor's scale x its input (here: a x4 net that says x2)."""
    from edgesr.errors import UsageError
    from edgesr.export.model_file import require_scale
    from edgesr.export.model_torch import ImportedModel

    net = ImportedModel(torch.nn.Sequential(torch.nn.Conv2d(3, 48, 3, padding=1), torch.nn.PixelShuffle(4)))
    got = require_scale(net, "m.pth", "Custom", scale=4, channels=3, multiple=1, minimum=0)
    assert got == ((32, 40), 3 * 48 * 9 * 32 * 40)
    with pytest.raises(UsageError) as info:
        require_scale(net, "m.pth", "Custom", scale=2, channels=3, multiple=1, minimum=0)
    assert str(info.value) == (
        "m.pth: the Custom model's output 128x160 for a 32x40 input is not x2 of it; edgesr deploys models whose "
        "output is scale x input"
    )


def test_runner_pads_to_the_window_and_matches_spandrel(tmp_path: Path) -> None:
    """SwinIR (window 4) on odd sizes: the ONNX through the runner (reflect pad to the window, crop) equals
    spandrel's own call of the PyTorch model (which pads the same way)."""
    import spandrel

    from edgesr.export.onnx_export import ExportConfig, export_onnx
    from edgesr.runtime import open_runner

    path = make("swinir", tmp_path / "swinir.pth")
    export_onnx(path, tmp_path / "swinir.onnx", ExportConfig(parity_sizes=((20, 24),)))
    desc = spandrel.ModelLoader().load_from_file(path)
    rng = np.random.default_rng(0)
    with open_runner(tmp_path / "swinir.onnx") as runner:
        for h, w in ((17, 23), (5, 9), (32, 33)):
            x = rng.random((1, 3, h, w), dtype=np.float32)
            got = runner.infer(x)
            want = desc(torch.from_numpy(x)).numpy()
            assert got.shape == (1, 3, 2 * h, 2 * w)
            assert np.abs(np.clip(got, 0, 1) - want).max() < 1e-4, (h, w)


def test_inspect_says_what_a_file_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    from edgesr.export.onnx_export import ExportConfig, export_onnx

    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in MODELS["swinir"]().state_dict().items()}
    path = tmp_path / "swinir.safetensors"
    save_file(state, str(path), metadata={"license": "CC-BY-4.0"})
    code, out, err = cli(capsys, "inspect", path)
    assert code == 0, err
    rows = {line[2:24].strip(): line[25:] for line in out.splitlines()[1:]}
    assert out.splitlines()[0] == "swinir.safetensors: imported model file (read as weights only)"
    assert rows["architecture"].startswith("SwinIR (SwinIR); ") and "window_size=4" in rows["architecture"]
    assert rows["scale"] == "x2 (SR)" and rows["channels"] == "3 -> 3 (RGB)"
    assert rows["size rule"] == "H and W multiples of 4, at least 16 (the runtime pads by reflection and crops)"
    assert rows["licence"] == "CC-BY-4.0"
    export_onnx(path, tmp_path / "swinir.onnx", ExportConfig(parity_sizes=((20, 24),)))
    code, out_onnx, _ = cli(capsys, "inspect", tmp_path / "swinir.onnx")
    assert code == 0 and out_onnx.splitlines()[0] == "swinir.onnx: fp32 ONNX"
    assert out_onnx.splitlines()[1:] == out.splitlines()[1:]  # the ONNX carries the same description


def test_upscale_tiles_an_imported_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tiled (bounded memory) and whole-image upscales of an imported model agree to well above visible."""
    from edgesr.imageops import load_image, save_image
    from edgesr.metrics import rgb_psnr

    img = tmp_path / "photo.png"
    save_image(img, np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8))
    path = make("compact", tmp_path / "compact.pth")
    for tile in ("0", "48"):
        code, out, err = cli(capsys, "upscale", img, "-o", tmp_path / f"t{tile}.png", "--model", path, "--tile", tile,
                             "--device", "cpu")
        assert code == 0, err
        want = f"{img} 90x70 -> {tmp_path / f't{tile}.png'} 180x140 (Compact x2 (0.00 M params, from compact.pth))"
        assert out.strip() == want
    assert rgb_psnr(load_image(tmp_path / "t48.png"), load_image(tmp_path / "t0.png")) > 50

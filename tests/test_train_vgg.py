"""VGG19 content features: a weights file made here (no network on CI machines), the
offline error, and never random weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgesr.errors import BadInputError, IncompatibleArtifactError
from edgesr.train.vgg import FEATURE_SCALE, VGG19_LAYOUT, VGGFeatures


def random_vgg19_state(classifier: bool = True) -> dict[str, torch.Tensor]:
    """A randomly initialised state dict with torchvision vgg19's keys and shapes (small
    classifier stand-ins: only the keys matter to the loader)."""
    state: dict[str, torch.Tensor] = {}
    idx, cin = 0, 3
    for item in VGG19_LAYOUT:
        if item == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(int(item), cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
        state[f"features.{idx}.bias"] = torch.zeros(int(item))
        idx, cin = idx + 2, int(item)
    if classifier:
        state["classifier.0.weight"] = torch.zeros(4, 4)
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised torchvision vgg19 state dict (the real ImageNet weights
    cannot be downloaded here); the test checks plumbing, not ImageNet features."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(random_vgg19_state(), path)
    return path


def test_features_from_file_are_the_files_weights_frozen_and_rescaled(vgg_file: Path, tmp_path: Path) -> None:
    state = torch.load(vgg_file, weights_only=True)
    feats = VGGFeatures("vgg22", vgg_file)
    torch.testing.assert_close(feats.features[7].weight, state["features.7.weight"])
    assert all(not p.requires_grad for p in feats.parameters())
    feats.train()
    assert not feats.features.training
    x = torch.rand(1, 3, 32, 32)
    y = feats(x)
    assert y.shape == (1, 128, 16, 16) and (y >= 0).all()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(y, feats.features((x - mean) / std) * FEATURE_SCALE)
    # features-only state dict ("0.weight", ...) works too; VGG54 is 512 maps at 1/16
    only = tmp_path / "features.pth"
    torch.save({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}, only)
    assert VGGFeatures("vgg54", only)(torch.rand(1, 3, 32, 32)).shape == (1, 512, 2, 2)


def test_offline_without_file_says_how_to_supply_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    try:  # a machine with network would simply download the real weights
        VGGFeatures("vgg22")
    except BadInputError as exc:
        msg = str(exc)
        assert "\n" not in msg
        assert "--vgg-weights" in msg and "vgg19-dcbb9e9d.pth" in msg
        assert str(tmp_path / "torch_home") in msg
    else:
        pytest.skip("this machine could download the torchvision VGG19 weights")


def test_wrong_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not found"):
        VGGFeatures("vgg22", tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(IncompatibleArtifactError, match="not a readable"):
        VGGFeatures("vgg22", bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(IncompatibleArtifactError, match="not a vgg19 state dict"):
        VGGFeatures("vgg22", other)

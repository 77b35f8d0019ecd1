"""Training data from several folders / list files, and crops drawn in proportion to image area."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_helpers import TINY, image_folder

from edgesr.errors import BadInputError, UsageError
from edgesr.train.config import TrainConfig, build_config
from edgesr.train.data import PatchSampler, expand_sources, load_pairs


def test_several_folders_and_a_list_file_are_read_once_each(tmp_path: Path) -> None:
    a = image_folder(tmp_path / "a", n=2, seed=1)
    b = image_folder(tmp_path / "b", n=3, seed=2)
    listing = tmp_path / "train.txt"
    listing.write_text("# the 291 set, here in small\na\nb/img0.png\n\n")
    assert len(expand_sources([a, b])) == 5
    assert [p.name for p in expand_sources(listing)] == ["img0.png", "img1.png", "img0.png"]  # b/img0 once
    assert len(expand_sources([listing, b])) == 5  # b/img0.png reached twice, read once
    pairs = load_pairs([a, b], 4, min_lr=8)
    assert len(pairs) == 5


def test_an_empty_list_file_or_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(BadInputError, match="names no folder"):
        expand_sources(tmp_path / "empty.txt")
    with pytest.raises(BadInputError, match="folder not found"):
        load_pairs([image_folder(tmp_path / "a", n=1), tmp_path / "missing"], 4)


def test_crops_are_drawn_in_proportion_to_image_area(tmp_path: Path) -> None:
    small = image_folder(tmp_path / "small", n=4, size=(64, 64), seed=3)  # 4 x 16x16 LR
    large = image_folder(tmp_path / "large", n=1, size=(256, 256), seed=4)  # 1 x 64x64 LR: 4x all small ones
    pairs = load_pairs([small, large], 4, min_lr=8)
    sampler = PatchSampler(pairs, 4, 32, seed=0)
    idx = np.concatenate([sampler.draw(256)[:, 0] for _ in range(40)])
    share_large = np.mean([pairs[i].hr.shape[0] == 256 for i in idx])
    # area weights: 4096 / (4096 + 4 * 256) = 0.8; uniform image choice would give 0.2
    assert share_large == pytest.approx(0.8, abs=0.02)


def test_data_in_configs_saved_before_several_folders_still_resume() -> None:
    old = TrainConfig.from_dict({**TINY, "data": "some/folder"})
    assert old.data == ["some/folder"]
    assert build_config({"data": ["x", "y"]}).data == ["x", "y"]


def test_image_skip_is_refused_for_the_paper_preset() -> None:
    with pytest.raises(UsageError, match="srresnet preset"):
        TrainConfig(preset="srresnet", image_skip="bicubic").resolved()
    with pytest.raises(UsageError, match="image-skip must be one of"):
        TrainConfig(image_skip="lanczos").resolved()

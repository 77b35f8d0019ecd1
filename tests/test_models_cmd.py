"""``edgesr models`` and shipped-model names in place of paths (``edgesr.zoo``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import image_folder

from edgesr.errors import BadInputError
from edgesr.export.onnx_io import open_edgesr_onnx
from edgesr.zoo import SHIPPED, names, resolve, shipped


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgesr", *args], capture_output=True, text=True, timeout=300)


def test_models_json_lists_every_shipped_model_with_its_files() -> None:
    run = _cli("models", "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["name"] for r in rows] == list(names()) and len(set(names())) == len(names())
    assert {"edge_s", "edge_s_camera"} <= set(names())
    for r in rows:
        assert {"name", "scale", "preset", "degradation", "macs_per_pixel", "onnx"} <= set(r)
        assert r["degradation"] in ("bicubic", "real") and r["macs_per_pixel"] > 0
        opened = open_edgesr_onnx(r["onnx"])  # the shipped FP32 ONNX describes itself as listed
        spec, precision = opened.spec, opened.precision
        assert precision == "fp32"
        assert (spec.preset, spec.scale, spec.image_skip) == (r["preset"], r["scale"], r["image_skip"])
        assert Path(r["checkpoint"]).is_file()
    assert shipped("edge_s_camera").degradation == "real" and shipped("edge_s").degradation == "bicubic"
    table = _cli("models")
    assert table.returncode == 0 and "edge_s_camera" in table.stdout


def test_names_resolve_paths_win_and_unknown_names_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve("edge_s", "onnx", "--engine") == SHIPPED[0].path("onnx")
    assert resolve(None, "pt", "--checkpoint") == SHIPPED[0].path("pt")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "edge_s").write_bytes(b"a local file")
    assert resolve("edge_s", "pt", "--checkpoint") == Path("edge_s")
    with pytest.raises(BadInputError) as err:
        resolve("edge_z", "pt", "--checkpoint")
    assert "not a shipped model name (edge_s" in str(err.value) and "\n" not in str(err.value)


def test_commands_take_names(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "hr", n=1, size=(64, 64))
    ok = _cli("eval", "--checkpoint", "edge_s_camera", "--data", str(data))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["method"] == "edge_s"
    bad = _cli("upscale", str(data / "img0.png"), "-o", str(tmp_path / "x.png"), "--checkpoint", "camera")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "edge_s_camera" in bad.stderr

"""ONNX external data as a memory bomb: ``build-engine`` on a model that declares an unused 1 GiB tensor, or a
used tensor of 1 TiB, refuses it in one line, fast, before reading any of it."""

from __future__ import annotations

import time
from pathlib import Path

import onnx
import pytest
import tinymodel
from export_helpers import cli, one_line_error
from onnx import TensorProto


def _external(model_path: Path, out: Path) -> onnx.ModelProto:
    model = onnx.load(str(model_path))
    onnx.save(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
              location=out.name + ".data", size_threshold=0)
    return onnx.load(str(out), load_external_data=False)


def test_unused_external_tensor_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "bomb.onnx"
    model = _external(src, out)
    with (tmp_path / "big.bin").open("wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB declared, nothing on disk
    bomb = TensorProto(name="unused_bomb", data_type=TensorProto.FLOAT, dims=[1 << 28])
    bomb.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "big.bin"), ("offset", "0"), ("length", str(1 << 30))):
        bomb.external_data.add(key=k, value=v)
    model.graph.initializer.append(bomb)
    onnx.save(model, str(out))
    t0 = time.monotonic()
    code, _, err = cli(capsys, "build-engine", str(out), "-o", str(tmp_path / "e.engine"), "--backend", "onnxruntime")
    assert code != 0 and "no node uses" in one_line_error(err) and time.monotonic() - t0 < 30
    assert not (tmp_path / "e.engine").exists()


def test_oversize_declared_external_data_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "big.onnx"
    model = _external(src, out)
    tensor = next(t for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL)
    for e in tensor.external_data:
        if e.key == "length":
            e.value = str(1 << 40)
    onnx.save(model, str(out))
    code, _, err = cli(capsys, "build-engine", str(out), "-o", str(tmp_path / "e.engine"), "--backend", "onnxruntime")
    assert code != 0 and "MiB of external data" in one_line_error(err)


def test_ordinary_external_data_still_loads(tmp_path: Path) -> None:
    from edgesr.export.onnx_io import load_model

    src = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "ext.onnx"
    _external(src, out)
    model = load_model(out)
    assert all(t.data_location != TensorProto.EXTERNAL or t.raw_data for t in model.graph.initializer)


def test_initializer_whose_dims_lie_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The sweep's finding 9: an initializer declaring 1000x the data it holds is refused in one line."""
    src = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    model = onnx.load(str(src))
    tensor = next(t for t in model.graph.initializer if len(t.dims) == 4)
    tensor.dims[0] *= 1000
    lying = tmp_path / "lying.onnx"
    onnx.save(model, str(lying))
    code, _, err = cli(capsys, "build-engine", str(lying), "-o", str(tmp_path / "e.engine"), "--backend", "onnxruntime")
    assert code != 0 and one_line_error(err)
    assert not (tmp_path / "e.engine").exists()

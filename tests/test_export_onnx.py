"""`edgesr export`: the ONNX file's contract (opset, names, dynamic axes, folded BatchNorm,
metadata, single file) and the parity proof against PyTorch on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from export_helpers import cli, session_cache, tiny_checkpoint

from edgesr.artifact import INPUT_NAME, ONNX_PRECISION_KEY, ONNX_SPEC_KEY, ONNX_VERSION_KEY, OUTPUT_NAME
from edgesr.errors import AccuracyGateError
from edgesr.spec import ModelSpec, edge_xs

torch = pytest.importorskip("torch", reason="export needs torch (edgesr[train])")
SIZES = ((24, 32), (40, 40))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export")
    ckpt = tiny_checkpoint(root / "xs.pt")
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    with session_cache(tmp_path_factory):
        result = export_onnx(ckpt, root / "xs.onnx", ExportConfig(parity_sizes=SIZES))
    assert result.parity.passed
    return ckpt, result.path


def dims(v: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]


def test_graph_contract(exported: tuple[Path, Path]) -> None:
    _, path = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    assert model.ir_version == 8
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == INPUT_NAME and out.name == OUTPUT_NAME
    n, c, h, w = dims(inp)
    assert c == 3 and all(isinstance(d, str) for d in (n, h, w))
    assert isinstance(dims(out)[2], str) and isinstance(dims(out)[3], str)
    ops = [node.op_type for node in model.graph.node]
    assert "BatchNormalization" not in ops and "Identity" not in ops
    spec = edge_xs(4)
    d2s = [node for node in model.graph.node if node.op_type == "DepthToSpace"]
    assert len(d2s) == len(spec.upsample_factors)
    assert all(onnx.helper.get_attribute_value(a) == b"CRD" for node in d2s for a in node.attribute if a.name == "mode")
    assert ops.count("PRelu") == spec.blocks + 1 + len(spec.upsample_factors)
    assert ops.count("Conv") == 1 + 2 * spec.blocks + 1 + len(spec.upsample_factors) + 1


def test_metadata_and_single_file(exported: tuple[Path, Path]) -> None:
    _, path = exported
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert ModelSpec.from_json(meta[ONNX_SPEC_KEY]) == edge_xs(4)
    assert meta[ONNX_PRECISION_KEY] == "fp32" and meta[ONNX_VERSION_KEY]
    assert sorted(p.name for p in path.parent.iterdir()) == ["xs.onnx", "xs.pt"]  # no .data, no temp files


def test_dynamic_batch_and_odd_sizes_match_pytorch(exported: tuple[Path, Path], rng: np.random.Generator) -> None:
    ckpt, path = exported
    from edgesr.runtime import open_runner
    from edgesr.train.checkpoint import load_generator

    model = load_generator(ckpt)  # unfolded BatchNorm: the reference is the training graph
    x = rng.random((3, 3, 37, 53), dtype=np.float32)
    with open_runner(path, providers=["cpu"]) as runner:
        got = runner.infer(x)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 3, 148, 212)
    assert np.max(np.abs(got - ref)) < 1e-4


def test_cli_prints_parity_at_two_sizes(
    capsys: pytest.CaptureFixture[str], exported: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, _ = exported
    code, out, err = cli(
        capsys, "export", ckpt, "-o", tmp_path / "m.onnx", "--parity-size", "24x32", "--parity-size", "40x40"
    )
    assert code == 0, err
    lines = [line for line in out.splitlines() if "max |diff|" in line]
    assert len(lines) == 2 and lines[0].strip().startswith("24x32") and lines[1].strip().startswith("40x40")
    assert (tmp_path / "m.onnx").is_file()


def test_parity_failure_writes_nothing(exported: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, _ = exported
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    with pytest.raises(AccuracyGateError, match="the export was not written"):
        export_onnx(ckpt, tmp_path / "m.onnx", ExportConfig(parity_sizes=SIZES, min_parity_psnr=1000.0))
    assert list(tmp_path.iterdir()) == []


def test_fold_batchnorm_keeps_the_function(exported: tuple[Path, Path], rng: np.random.Generator) -> None:
    ckpt, _ = exported
    from edgesr.train.arch import fold_batchnorm
    from edgesr.train.checkpoint import load_generator

    model = load_generator(ckpt)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.from_numpy(rng.random((1, 3, 20, 24), dtype=np.float32))
    with torch.inference_mode():
        assert torch.allclose(model(x), folded(x), atol=1e-5)


@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_graph(exported: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, path = exported
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    result = export_onnx(ckpt, tmp_path / "d.onnx", ExportConfig(exporter="dynamo", parity_sizes=SIZES))
    assert result.parity.passed
    a, b = onnx.load(str(path)), onnx.load(str(result.path))
    assert sorted(n.op_type for n in a.graph.node) == sorted(n.op_type for n in b.graph.node)
    assert {o.domain: o.version for o in b.opset_import}[""] == 17

"""`edgesr build-engine --backend onnxruntime` end to end: FP32/FP16/INT8 artifacts, their
sidecars, the accuracy gate (measured on the written file), --force, and calibration reuse.

CPU dependence, stated: INT8 on ONNX Runtime's CPU kernels can saturate on x86 CPUs without VNNI
(``export/gate.py``), so there the INT8 builds add ``--force`` (``INT8_CPU``) and the test checks
the exact Q/DQ arithmetic (``exact_qdq``, what TensorRT computes) against the threshold instead."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_helpers import SMALL_PROFILE, cli, one_line_error, session_cache, tiny_checkpoint

from edgesr.artifact import read_sidecar, sha256_file
from edgesr.imageops import downscale, from_nchw, load_image, to_nchw
from edgesr.machine import cpu_has_vnni

pytest.importorskip("torch", reason="export needs torch (edgesr[train])")
ORT = ["--backend", "onnxruntime", *SMALL_PROFILE]
NO_VNNI = cpu_has_vnni() is False
INT8_CPU = ["--force"] if NO_VNNI else []  # see the docstring


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgesr.export.onnx_export import ExportConfig, export_onnx

    root = tmp_path_factory.mktemp("engines")
    with session_cache(tmp_path_factory):
        ckpt = tiny_checkpoint(root / "xs.pt")
        return export_onnx(ckpt, root / "xs.onnx", ExportConfig(parity_sizes=((24, 32),))).path


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_writes_engine_sidecar_report_and_reference(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path, precision: str
) -> None:
    engine = tmp_path / "out" / f"m.{precision}.engine"
    flags = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8", "--calib-images", "3", *INT8_CPU]}[precision]
    code, out, err = cli(capsys, "build-engine", fp32_onnx, "-o", engine, *ORT, *flags)
    assert code == 0, err
    sc = read_sidecar(engine)
    assert (sc.backend, sc.precision, sc.spec.scale) == ("onnxruntime", precision, 4)
    assert sc.profile.min == (16, 16) and sc.profile.opt == (32, 48) and sc.profile.max == (48, 64)
    assert sc.engine_sha256 == sha256_file(engine)
    assert sc.source_onnx_sha256 == sha256_file(fp32_onnx)
    cpu_kernels = precision == "int8" and NO_VNNI  # the gate may fail on saturating kernels: forced
    assert sc.backend_version and sc.gate and (sc.gate["passed"] or (cpu_kernels and sc.gate["forced"]))
    # the reference FP32 ONNX is beside the engine, under the name the sidecar gives
    assert sc.reference_onnx and sha256_file(engine.parent / sc.reference_onnx) == sha256_file(fp32_onnx)
    report = json.loads((engine.parent / sc.gate["report"]).read_text())
    natural = [img for img in report["images"] if img["content"] == "natural"]
    assert report["artifact"] == engine.name and len(natural) == 4  # the 4 built-in holdout photos
    assert set(report["classes"]) == {"natural", "overlay_text", "synthetic_graphics"}  # + synthetic camera frames
    assert all(img["lr_hw"][0] <= 48 and img["lr_hw"][1] <= 64 for img in report["images"])
    minimum = {"fp32": 50, "fp16": 50, "int8": 42}[precision]
    assert report["min_psnr_db"] == minimum and (report["passed"] or cpu_kernels)
    assert "PSNR vs FP32" in out and f"{precision} vs FP32: mean" in out
    meta = {p.key: p.value for p in onnx.load(str(engine)).metadata_props}
    assert meta["edgesr.precision"] == precision
    # artifacts travel to other machines: no path of this one (cache, temp dir) inside
    sidecar_text = engine.with_name(engine.name + ".json").read_text()
    assert str(tmp_path) not in sidecar_text and "edgesr-cache" not in sidecar_text
    assert str(Path.home()) not in json.dumps(report) and "/" not in report["check_data"]
    assert ("exact_qdq" in report) == (precision == "int8")  # Q/DQ arithmetic without CPU integer kernels
    if precision == "int8":
        assert all(isinstance(img["psnr_exact_qdq"], float) for img in report["images"])
        assert report["exact_qdq"]["worst_psnr_db"] >= minimum  # the arithmetic TensorRT runs, on any CPU
        calib = sc.build["calibration"]
        checked = {img["name"] for img in report["images"]}
        assert not checked & {Path(f).name for f in calib["image_files"]}  # gate images were not calibration images
        assert calib["shape"] == [32, 48]  # crops of the opt shape
        rec = report["int8"]  # placement, measured keep, MAC share, per-conv sensitivity table
        convs = [n.name for n in onnx.load(str(fp32_onnx)).graph.node if n.op_type == "Conv"]
        assert [row["conv"] for row in rec["search"]["per_conv"]] == convs
        kept = [] if rec["keep_float"] == "none" else rec["keep_float"]
        assert kept == [row["conv"] for row in rec["search"]["per_conv"] if row["kept_float"]]
        assert 0.0 <= rec["int8_mac_share"] <= 1.0 and rec["search"]["target_worst_psnr_db"] == 45.0
        n = len(convs) - len(kept)
        assert rec["qdq"]["dequantize_feeds"] == ({"Conv.input": n, "Conv.weight": n} if n else {})
        assert "of MACs in INT8" in out


def test_gate_numbers_are_those_of_the_written_file(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path
) -> None:
    """Recompute one image's PSNR vs FP32 from the files on disk: it must equal the report's."""
    from edgesr.metrics import rgb_psnr
    from edgesr.runtime import open_runner
    from edgesr.samples import samples_dir

    engine = tmp_path / "m.engine"
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", engine, *ORT, "--int8", "--calib-images", "3", *INT8_CPU)
    assert code == 0, err
    report = json.loads((tmp_path / "m.engine.gate.json").read_text())
    entry = next(r for r in report["images"] if r["name"] == "coins.png")
    from edgesr.pairs import centre_crop

    hr = centre_crop(load_image(samples_dir("holdout") / "coins.png"), 48 * 4, 64 * 4)
    x = to_nchw(downscale(hr, 4))
    with open_runner(engine) as r8, open_runner(fp32_onnx) as r32:
        value = rgb_psnr(from_nchw(r8.infer(x))[0], from_nchw(r32.infer(x))[0])
    assert value == pytest.approx(entry["psnr_vs_fp32"], abs=1e-3)


def test_gate_refuses_then_force_writes(capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", engine, *ORT, "--fp16", "--min-psnr", "200")
    assert code == 3
    assert "engine refused" in one_line_error(err) and "--force" in err
    assert not engine.exists() and not (tmp_path / "m.engine.json").exists()
    failed = json.loads((tmp_path / "m.engine.gate-failed.json").read_text())
    assert failed["passed"] is False and failed["min_psnr_db"] == 200
    code, out, err = cli(
        capsys, "build-engine", fp32_onnx, "-o", engine, *ORT, "--fp16", "--min-psnr", "200", "--force"
    )
    assert code == 0, err
    assert "warning" in out and "--force" in out
    assert read_sidecar(engine).gate["forced"] is True


def test_int8_keep_none_vs_auto_and_calibration_reuse(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path
) -> None:
    args = [*ORT, "--int8", "--calib-images", "2", *INT8_CPU]
    code, out, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "auto.engine", *args)
    assert code == 0, err
    code, out, err = cli(
        capsys, "build-engine", fp32_onnx, "-o", tmp_path / "none.engine", *args, "--int8-keep", "none"
    )
    assert code == 0, err
    assert "reused cached ranges" in out  # same model, images, count, shape and method
    auto, none = read_sidecar(tmp_path / "auto.engine"), read_sidecar(tmp_path / "none.engine")
    assert none.build["int8_keep"] == "none" and none.build["int8"]["int8_mac_share"] == 1.0
    assert auto.build["int8"]["keep_float"] == (auto.build["int8"]["search"]["keep"] or "none")
    assert auto.build["int8_keep"] == auto.build["int8"]["keep_float_short"]  # as --int8-keep takes it

    def dq_count(p: Path) -> int:
        return sum(n.op_type == "DequantizeLinear" for n in onnx.load(str(p)).graph.node)

    convs = sum(n.op_type == "Conv" for n in onnx.load(str(fp32_onnx)).graph.node)
    assert dq_count(tmp_path / "none.engine") == 2 * convs  # Conv data input + weight, nothing else
    kept = auto.build["int8_keep"]
    assert dq_count(tmp_path / "auto.engine") == 2 * (convs - (0 if kept == "none" else len(kept)))


def test_int8_keep_by_module_path_and_the_short_form_in_sidecar_and_report(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path
) -> None:
    """``--int8-keep head,body.0`` (what the docs and the report show) keeps exactly those convs float; the sidecar
    and gate report name them the same way; full ONNX node names still select the same convs."""
    args = [*ORT, "--int8", "--calib-images", "2", *INT8_CPU]
    code, out, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "s.engine", *args, "--int8-keep",
                         "head,body.0")
    assert code == 0, err
    full = ["/head/head.0/Conv", "/body/body.0/conv1/Conv", "/body/body.0/conv2/Conv"]
    sc = read_sidecar(tmp_path / "s.engine")
    assert sc.build["int8_keep"] == ["head", "body.0.conv1", "body.0.conv2"]
    report = json.loads((tmp_path / "s.engine.gate.json").read_text())["int8"]
    assert report["keep_float"] == full and report["keep_float_short"] == sc.build["int8_keep"]
    assert report["keep_mode"] == "head,body.0"
    assert "float convs (head,body.0): head, body.0.conv1, body.0.conv2" in " ".join(out.split())
    model = onnx.load(str(tmp_path / "s.engine"))  # ONNX Runtime backend: the engine is an ONNX file
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    float_convs = {n.name for n in model.graph.node if n.op_type == "Conv" and not dq_out & set(n.input)}
    assert {name.split("/")[-2] for name in float_convs} == {"head.0", "conv1", "conv2"} and len(float_convs) == 3
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "-o", tmp_path / "f.engine", *args, "--int8-keep",
                       ",".join(full))
    assert code == 0, err
    again = read_sidecar(tmp_path / "f.engine")
    assert again.build["int8"]["keep_float"] == full and again.build["int8_keep"] == sc.build["int8_keep"]


def test_portable_int8_qdq_onnx_without_tensorrt(
    capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path
) -> None:
    """--backend onnx: the TensorRT-form Q/DQ ONNX as made (not ONNX Runtime-optimised) with its gate
    report and the FP32 reference beside it; TensorRT-only steps are refused clearly."""
    from edgesr.export.int8 import trt_qdq_violations

    out = tmp_path / "port" / "m.int8.qdq.onnx"
    code, stdout, err = cli(
        capsys,
        "build-engine",
        fp32_onnx,
        "-o",
        out,
        "--backend",
        "onnx",
        *SMALL_PROFILE,
        "--int8",
        "--calib-images",
        "2",
        "--int8-keep",
        "none",
    )
    assert code == 0, err
    model = onnx.load(str(out))
    assert trt_qdq_violations(model) == []
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "DepthToSpace"} <= ops
    assert all(not n.domain for n in model.graph.node)  # standard ONNX only: no ONNX Runtime fusions
    sc = read_sidecar(out)
    assert sc.precision == "int8" and sc.build["engine"]["optimisation"].startswith("none (portable")
    assert (out.parent / sc.reference_onnx).is_file()
    report = json.loads((tmp_path / "port" / "m.int8.qdq.onnx.gate.json").read_text())
    assert report["passed"] and "exact_qdq" in report and report["int8"]["int8_mac_share"] == 1.0
    code, _, err = cli(capsys, "build-engine", out, "--backend", "onnxruntime", "--int8")
    assert code == 2 and "--backend tensorrt" in one_line_error(err)
    code, _, err = cli(capsys, "build-engine", fp32_onnx, "--backend", "onnx", "--fp16")
    assert code == 2 and "--int8" in one_line_error(err)


def test_engine_runs_through_the_runtime(capsys: pytest.CaptureFixture[str], fp32_onnx: Path, tmp_path: Path) -> None:
    from edgesr.runtime import open_runner

    engine = tmp_path / "m.engine"
    assert cli(capsys, "build-engine", fp32_onnx, "-o", engine, *ORT, "--fp16")[0] == 0
    x = np.random.default_rng(0).random((1, 3, 40, 56), dtype=np.float32)
    with open_runner(engine) as r:
        assert (r.backend, r.precision) == ("onnxruntime", "fp16")
        assert r.infer(x).shape == (1, 3, 160, 224)
        with pytest.raises(Exception, match="outside what"):
            r.infer(np.zeros((1, 3, 49, 40), np.float32))  # taller than --max-shape 48x64

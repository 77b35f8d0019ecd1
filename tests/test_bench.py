"""``edgesr bench`` on real components: a real (tiny) checkpoint exported to ONNX, real PyTorch and
ONNX Runtime sessions, real FP16/INT8 variants, files checked for content. Tiny sizes and 1-2 runs;
no timed assertions (speed goals live in benchmarks/)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import tinymodel
from export_helpers import cli, one_line_error, session_cache, tiny_checkpoint
from PIL import Image
from test_stream_torchfree import BLOCK_TORCH

from edgesr.imageops import from_nchw, to_nchw
from edgesr.metrics import rgb_psnr
from edgesr.runtime import open_runner

SIZES = ((32, 48), (24, 40))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Path]:
    pytest.importorskip("torch")
    from edgesr.bench.run import BenchConfig, run_bench

    root = tmp_path_factory.mktemp("bench")
    ckpt = tiny_checkpoint(root / "tiny.pt")
    cfg = BenchConfig(model=ckpt, sizes=SIZES, warmup=1, runs=2, out=root / "out", calib_images=4)
    with session_cache(tmp_path_factory):
        result = run_bench(cfg)
    return result, root / "out", ckpt


def _rows(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "bench.json").read_text())["rows"]


def _row(rows: list[dict[str, Any]], size: str, label: str) -> dict[str, Any]:
    backend, precision, *variant = label.split()
    found = [r for r in rows if r["size"] == size and (r["backend"], r["precision"], r["variant"]) ==
             (backend, precision, variant[0] if variant else "")]
    assert len(found) == 1, (size, label)
    return found[0]


@pytest.mark.slow
def test_bench_writes_json_csv_and_chart(bench_run: tuple[Any, Path, Path]) -> None:
    result, out, _ = bench_run
    data = json.loads((out / "bench.json").read_text())
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    assert data["model"]["describe"].startswith("edge_xs x4") and data["config"]["runs"] == 2
    assert data["reference"] == "pytorch fp32 eager on the CPU" and data["baseline"] == "pytorch fp32"
    # every row at every size: 3 pytorch + 3 onnxruntime + 3 tensorrt
    assert len(data["rows"]) == 9 * len(SIZES)
    assert [r["size"] for r in data["rows"]] == ["32x48"] * 9 + ["24x40"] * 9  # grouped by size, in order
    with (out / "bench.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(data["rows"])
    assert table[0]["backend"] == "pytorch" and float(table[0]["latency_median_ms"]) > 0
    png = Image.open(out / "bench.png")
    assert png.format == "PNG" and png.size[0] == 1000 and png.size[1] > 200
    # the ONNX Runtime FP16/INT8 rows run engines made by build-engine's path, each with its gate report
    for p in ("fp16", "int8"):
        engine = out / "models" / f"tiny.{p}.ort.onnx"
        assert engine.is_file() and (out / "models" / f"tiny.{p}.ort.onnx.gate.json").is_file()
    assert (out / "models" / "tiny.onnx").is_file()
    assert not result.interrupted


@pytest.mark.slow
def test_bench_numbers_are_measured(bench_run: tuple[Any, Path, Path]) -> None:
    result, out, _ = bench_run
    rows = _rows(out)
    macs = result.model["macs_per_output_pixel"]
    for label in ("pytorch fp32", "pytorch fp32 channels_last", "onnxruntime fp32", "onnxruntime fp16",
                  "onnxruntime int8"):
        for h, w in SIZES:
            r = _row(rows, f"{h}x{w}", label)
            assert r["status"] == "ok", r
            assert 0 < r["latency_min_ms"] <= r["latency_median_ms"] <= r["latency_p95_ms"]
            assert r["fps"] == pytest.approx(1e3 / r["latency_median_ms"], rel=1e-3)
            expect = 2 * macs * (4 * h) * (4 * w) / (r["latency_median_ms"] / 1e3) / 1e9
            assert r["gflops"] == pytest.approx(expect, rel=1e-2)
            assert r["peak_rss_mib"] > 50 and r["rss_delta_mib"] >= 0
            assert r["device"] == "cpu" and r["runs"] == 2
    assert all(_row(rows, s, "pytorch fp32")["speedup_vs_baseline"] == 1.0 for s in ("32x48", "24x40"))


@pytest.mark.slow
def test_bench_psnr_is_against_the_real_fp32_output(bench_run: tuple[Any, Path, Path]) -> None:
    _, out, ckpt = bench_run
    import torch

    from edgesr.bench.measure import real_input
    from edgesr.train.checkpoint import load_generator

    rows = _rows(out)
    assert _row(rows, "32x48", "pytorch fp32")["psnr_vs_fp32_db"] == "inf"  # the reference itself
    assert float(_row(rows, "32x48", "onnxruntime fp32")["psnr_vs_fp32_db"]) >= 60  # "inf" when identical
    assert float(_row(rows, "32x48", "pytorch fp32 channels_last")["psnr_vs_fp32_db"]) >= 60
    fp16, int8 = (float(_row(rows, "32x48", f"onnxruntime {p}")["psnr_vs_fp32_db"]) for p in ("fp16", "int8"))
    assert 45 <= fp16 < 100 and 30 <= int8 < fp16
    # recompute the INT8 figure independently: same photo, the written variant, the PyTorch model
    img, _ = real_input(32, 48)
    with torch.inference_mode():
        ref = from_nchw(load_generator(ckpt)(torch.from_numpy(to_nchw(img))).numpy())[0]
    with open_runner(out / "models" / "tiny.int8.ort.onnx") as r:
        got = from_nchw(r.infer(to_nchw(img)))[0]
    assert rgb_psnr(got, ref) == pytest.approx(int8, abs=1e-3)


@pytest.mark.slow
def test_bench_says_why_rows_did_not_run(bench_run: tuple[Any, Path, Path]) -> None:
    from edgesr.backends import backend
    from edgesr.bench.report import not_run
    from edgesr.machine import cpu_has_native_bf16

    result, out, _ = bench_run
    rows = _rows(out)
    bf16 = _row(rows, "32x48", "pytorch bf16")["status"]
    assert bf16 == "ok" if cpu_has_native_bf16() else bf16.startswith("not supported: no native bf16")
    why = backend("tensorrt").probe()
    if why is not None:  # the backend table's reason, on every TensorRT row
        trt = [r for r in rows if r["backend"] == "tensorrt"]
        assert trt and all(r["status"] == f"not available: {why}" for r in trt)
        assert any(line.startswith("tensorrt fp32, tensorrt fp16, tensorrt int8: not available") for line in
                   not_run(result))


@pytest.mark.slow
def test_bench_table_renders(bench_run: tuple[Any, Path, Path]) -> None:
    from rich.console import Console

    from edgesr.bench.report import render_table

    result, _, _ = bench_run
    console = Console(width=200, record=True)
    console.print(render_table(result))
    text = console.export_text()
    for needle in ("onnxruntime int8", "pytorch fp32 channels_last", "32x48", "24x40", "1.00x", "cores usable"):
        assert needle in text


def test_bench_runs_without_torch_on_an_onnx_model(tmp_path: Path) -> None:
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "b"
    code = BLOCK_TORCH + textwrap.dedent(f"""
        from edgesr.cli.main import main
        try:
            main(["bench", "--model", {str(model)!r}, "--sizes", "16x24", "--runs", "1", "--warmup", "0",
                  "--backends", "pytorch,onnxruntime", "--precisions", "fp32,int8", "--calib-images", "2",
                  "--out", {str(out)!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")]
        print("TORCH-FREE OK")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TORCH-FREE OK" in done.stdout and "torch is not installed" in done.stdout
    data = json.loads((out / "bench.json").read_text())
    assert data["reference"] == "onnxruntime fp32 on the CPU" and data["baseline"] == "onnxruntime fp32"
    status = {(r["backend"], r["precision"], r["variant"]): r for r in data["rows"]}
    assert status[("pytorch", "fp32", "")]["status"].startswith("not available: torch is not installed")
    assert status[("onnxruntime", "fp32", "")]["psnr_vs_fp32_db"] == "inf"
    int8 = status[("onnxruntime", "int8", "")]  # (this 2-conv model keeps both convs in float: "auto")
    assert int8["status"] == "ok" and float(int8["psnr_vs_fp32_db"]) >= 25 and int8["fps"] > 0
    assert "of MACs in INT8" in int8["note"] and "of MACs in INT8" in done.stdout  # the share, in the JSON and printed
    assert ("onnxruntime", "fp16", "") not in status  # --precisions filters rows


def test_bench_refuses_bad_flags_and_engines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "bench", "--backends", "openvino", "--out", tmp_path / "b")
    assert code == 2 and "--backends" in one_line_error(err)
    code, _, err = cli(capsys, "bench", "--runs", "0", "--out", tmp_path / "b")
    assert code == 2 and "--runs" in one_line_error(err)
    fp32 = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    engine = tinymodel.ort_engine(tmp_path / "e" / "m.engine", fp32, reference=fp32, precision="fp32")
    code, _, err = cli(capsys, "bench", "--model", engine, "--out", tmp_path / "b")
    assert code == 2 and "built engine" in one_line_error(err)
    code, _, err = cli(capsys, "bench", "--model", tmp_path / "missing.pt", "--out", tmp_path / "b")
    assert code == 1 and "not found" in one_line_error(err)


@pytest.mark.gpu
def test_bench_tensorrt_rows_on_a_gpu(tmp_path: Path) -> None:
    from test_runtime_trt import _gpu_or_skip

    _gpu_or_skip()
    pytest.importorskip("torch")
    from edgesr.bench.run import BenchConfig, run_bench

    sizes = ((64, 64), (96, 128))
    ckpt = tiny_checkpoint(tmp_path / "t.pt")
    cfg = BenchConfig(model=ckpt, sizes=sizes, backends=("onnxruntime", "tensorrt"), warmup=2, runs=3,
                      out=tmp_path / "b", calib_images=4)
    result = run_bench(cfg)
    for precision, floor in (("fp32", 50.0), ("fp16", 40.0), ("int8", 30.0)):
        for size in sizes:
            row = result.find(size, "tensorrt", precision)
            assert row is not None and row.ok, row
            assert row.device == "cuda" and row.timing is not None and row.timing.median_ms > 0
            assert row.psnr_vs_fp32 is not None and row.psnr_vs_fp32 >= floor, (precision, size, row.psnr_vs_fp32)
        assert (tmp_path / "b" / "models" / f"t.{precision}.engine").is_file()


def test_bench_without_scikit_image_uses_a_synthetic_frame(tmp_path: Path) -> None:
    """A bare Jetson install (no torch, no scikit-image for the built-in photos): the engine rows still run."""
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "b"
    block = BLOCK_TORCH.replace('name == "torch" or', 'name in ("torch", "skimage") or name.startswith("skimage.") or')
    code = block + textwrap.dedent(f"""
        from edgesr.cli.main import main
        try:
            main(["bench", "--model", {str(model)!r}, "--sizes", "16x24", "--runs", "1", "--warmup", "0",
                  "--backends", "onnxruntime", "--precisions", "fp32,fp16", "--out", {str(out)!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert "skimage" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((out / "bench.json").read_text())
    assert data["config"]["input_image"].startswith("a synthetic pattern")
    assert [r["status"] for r in data["rows"]] == ["ok", "ok"]

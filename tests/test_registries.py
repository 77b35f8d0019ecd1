"""The backend and precision tables (issue 18): every stage reads them, and a new kind is one entry.

``edgesr.backends.TABLE`` and ``edgesr.precisions.TABLE`` are checked entry by entry, and a backend that is not
in the product (``echo``: ONNX Runtime under another name, with a builder that copies the variant) is added by
one entry only, then built with the accuracy gate by ``build_engine`` and opened by ``open_runner``."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tinymodel

from edgesr import backends, precisions
from edgesr.backends import EngineBuild, EngineRequest
from edgesr.errors import UsageError


def test_every_backend_declares_what_the_stages_need() -> None:
    names = [b.name for b in backends.TABLE]
    assert len(set(names)) == len(names) and len({b.suffix for b in backends.TABLE}) == len(names)
    for b in backends.TABLE:
        assert set(b.precisions) <= set(precisions.PRECISIONS) and b.summary and b.supported
        assert b.runs_as in {r.name for r in backends.runnable()} or (b.schemes and b.runs_as == b.name)
        assert b.builder is None or callable(b.builder())  # the stage's function, imported when asked
        assert b.runner is None or isinstance(b.runner(), type)
        why = b.probe()
        assert why is None or (isinstance(why, str) and "\n" not in why)
    assert backends.backend("onnxruntime").probe() is None  # this machine has ONNX Runtime
    assert backends.remote("triton://gpu:8001/sr").name == "triton"  # type: ignore[union-attr]
    assert backends.remote("Triton+HTTP://gpu:8000/sr").name == "triton"  # type: ignore[union-attr]
    assert backends.remote("models/sr.onnx") is None and backends.remote("rtsp://cam/1") is None
    assert "triton" not in {b.name for b in backends.runnable()}  # no local artifacts: not in sidecars, not benched
    with pytest.raises(UsageError, match="--backend must be onnxruntime, tensorrt, onnx or triton, got 'cuda'"):
        backends.backend("cuda")


def test_the_precision_table_keeps_the_gate_defaults_and_flags() -> None:
    assert {p.name: p.min_psnr_db for p in precisions.TABLE} == {"fp32": 50.0, "fp16": 50.0, "int8": 42.0}
    assert precisions.from_flags({"--fp16": False, "--int8": False}) == "fp32"
    assert precisions.from_flags({"--int8": True}) == "int8"
    with pytest.raises(UsageError, match="--fp16 and --int8 conflict"):
        precisions.from_flags({"--fp16": True, "--int8": True})
    assert precisions.gate_thresholds() == "50 (fp32, fp16), 42 (int8)"
    assert precisions.from_flags({}, "fp16") == "fp16" and precisions.from_flags({"--int8": True}, "int8") == "int8"
    with pytest.raises(UsageError, match="--precision fp16 and --int8 conflict"):
        precisions.from_flags({"--int8": True}, "fp16")
    with pytest.raises(UsageError, match=r"unknown precision 'bf16' \(known: fp32, fp16, int8\)"):
        precisions.from_flags({}, "bf16")
    for p in precisions.TABLE:
        assert (p.variant is None) == (p.name == "fp32") and (p.variant is None or callable(p.variant()))


def test_the_tensorrt_ep_options_come_from_the_precision_table() -> None:
    from edgesr.runtime.ort_runner import provider_options

    trt_ep = "TensorrtExecutionProvider"
    assert provider_options([trt_ep], "fp32")[0].get("trt_fp16_enable") is None
    assert provider_options([trt_ep], "int8")[0]["trt_int8_enable"] == "True"
    assert provider_options(["CPUExecutionProvider"], "int8") == [{}]


def _copy_builder(variant_onnx: Path, out: Path, request: EngineRequest) -> EngineBuild:
    shutil.copyfile(variant_onnx, out)
    return EngineBuild("0.1", {"where": "here"}, {"copied": variant_onnx.name})


def test_a_new_backend_is_one_table_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from edgesr.export.build import BuildConfig, build_engine
    from edgesr.runtime import open_runner
    from edgesr.runtime.ort_runner import OnnxRuntimeRunner

    class EchoRunner(OnnxRuntimeRunner):
        backend = "echo"

    echo = replace(backends.backend("onnxruntime"), name="echo", suffix=".echo.onnx", runs_as="echo",
                   builder=lambda: _copy_builder, runner=lambda: EchoRunner, summary="a test backend")
    monkeypatch.setattr(backends, "TABLE", (*backends.TABLE, echo))
    onnx = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    cfg = BuildConfig.with_defaults(onnx, backend="echo", precision="fp16", min_shape=(16, 16), max_shape=(48, 64))
    assert cfg.output.name == "m.fp16.echo.onnx"
    result = build_engine(cfg)  # the FP16 variant, the entry's builder, the gate through open_runner
    assert result.gate.passed and result.sidecar.backend == "echo" and result.sidecar.engine_facts == {
        "copied": "fp16.onnx"}
    with open_runner(result.engine) as r:
        assert isinstance(r, EchoRunner) and r.precision == "fp16"
        assert r.infer(np.zeros((1, 3, 16, 16), np.float32)).shape == (1, 3, 64, 64)

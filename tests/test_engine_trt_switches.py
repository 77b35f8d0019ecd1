"""The TensorRT version switches of `edgesr.export.engine_trt`, checked without TensorRT.

Each stand-in below carries exactly the enum members that the Python bindings of that release
expose (pyCore.cpp / NvInfer.h per branch; docs/tensorrt.md):
8.5 has EXPLICIT_BATCH and no STRONGLY_TYPED; 10.3 has both (EXPLICIT_BATCH ignored); 11.x has no
EXPLICIT_BATCH and no FP16/INT8 builder flags, and renumbered what is left. The switches must pick
the right flags from names, never from integers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from edgesr.export import engine_trt

from edgesr.artifact import ShapeProfile
from edgesr.backends import EngineRequest
from edgesr.errors import UsageError


def api(version: str, creation: dict[str, int], builder_flags: dict[str, int]) -> SimpleNamespace:
    return SimpleNamespace(
        __version__=version,
        NetworkDefinitionCreationFlag=SimpleNamespace(**creation),
        BuilderFlag=SimpleNamespace(**builder_flags),
    )


TRT_8_5 = api(
    "8.5.2.2", {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}, {"FP16": 0, "INT8": 1, "GPU_FALLBACK": 3, "TF32": 7}
)
TRT_10_3 = api(
    "10.3.0.30", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}, {"FP16": 0, "INT8": 1, "GPU_FALLBACK": 3, "TF32": 6}
)
TRT_11_1 = api("11.1.0.5", {"STRONGLY_TYPED": 0}, {"GPU_FALLBACK": 3, "TF32": 2})


def test_network_flags_explicit_batch_only_on_8x() -> None:
    assert engine_trt.network_flags(TRT_8_5) == 1 << 0
    assert engine_trt.network_flags(TRT_10_3) == 0  # explicit batch always; the flag is ignored there
    assert engine_trt.network_flags(TRT_11_1) == 0  # the member does not exist any more


@pytest.mark.parametrize("trt", [TRT_8_5, TRT_10_3])
def test_weakly_typed_builds_set_precision_flags(trt: SimpleNamespace) -> None:
    assert engine_trt.precision_flags(trt, "fp32") == ["-TF32"]
    assert engine_trt.precision_flags(trt, "fp16") == ["FP16"]
    assert engine_trt.precision_flags(trt, "int8") == ["INT8", "FP16"]  # INT8 is required for Q/DQ on <= 10


def test_tensorrt_11_sets_no_precision_flags() -> None:
    """Strongly typed: the FP16 / Q/DQ ONNX carries the precision; no flag exists to set."""
    assert engine_trt.precision_flags(TRT_11_1, "fp16") == []
    assert engine_trt.precision_flags(TRT_11_1, "int8") == []
    assert engine_trt.precision_flags(TRT_11_1, "fp32") == ["-TF32"]


def test_missing_flag_on_weakly_typed_build_is_an_error_not_a_silent_fp32() -> None:
    broken = api("10.0.0", {"EXPLICIT_BATCH": 0}, {"GPU_FALLBACK": 3})
    with pytest.raises(Exception, match="has no BuilderFlag"):
        engine_trt.precision_flags(broken, "fp16")


def test_timing_cache_is_keyed_by_tensorrt_version_and_gpu() -> None:
    orin = {"gpu_name": "Orin (nvgpu)", "compute_capability": "8.7"}
    a = engine_trt.timing_cache_path("10.3.0.30", orin)
    b = engine_trt.timing_cache_path("8.5.2.2", orin)
    c = engine_trt.timing_cache_path("10.3.0.30", {"gpu_name": "NVIDIA RTX A4000", "compute_capability": "8.6"})
    assert len({a, b, c}) == 3 and a.name.endswith(".cache") and "/" not in a.name


def test_dla_needs_static_shapes_and_reduced_precision() -> None:
    dynamic = ShapeProfile((32, 32), (180, 320), (270, 480))
    static = ShapeProfile((180, 320), (180, 320), (180, 320))
    with pytest.raises(UsageError, match="DLA needs static shapes"):
        EngineRequest("fp16", dynamic, dla_core=0)
    with pytest.raises(UsageError, match="FP16 or INT8"):
        EngineRequest("fp32", static, dla_core=0)
    EngineRequest("int8", static, dla_core=1)  # accepted

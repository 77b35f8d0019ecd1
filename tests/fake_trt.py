"""Stand-ins for the ``tensorrt`` and ``pycuda`` modules, for machines without an NVIDIA GPU.

They stand in for hardware libraries only: the thing under test is edgesr's code (``export.engine_trt``,
``runtime.trt_runner``, ``runtime.trt_common``), driven through the real CLI. They follow the real APIs'
shapes and failure modes (TENSORRT_API.md; pycuda ``src/cpp/cuda.hpp``):

- ``trt.Builder(logger)`` / ``trt.Runtime(logger)`` log an error and raise pybind11's
  ``TypeError: pybind11::init(): factory function returned nullptr`` when TensorRT cannot start CUDA;
- pycuda's ``driver.Error`` family (``MemoryError``, ``LogicError``, ``LaunchError``); device-side objects
  (streams, events, device and pinned memory) need a current context to be made, and count whether they
  are released while one is current; ``detach()`` of a non-current primary context leaves an entry on the
  driver's context stack (what pycuda does: push, then ``cuDevicePrimaryCtxRelease``, which does not pop);
- a "plan" is the parsed ONNX plus the build's profile and flags; "execution" runs that ONNX with ONNX
  Runtime on the bytes in "device memory", so a build's accuracy gate and a stream really run.

``FakeGPU(fail={...})`` picks failures: ``builder_nullptr``, ``runtime_nullptr``, ``mem_alloc``,
``pagelocked``, ``launch``, ``parse``, ``build_none``. ``counts`` tallies creations and releases.
``dla_cores`` and ``sm_count`` describe the device; ``build_warnings`` are logged while a plan builds. TensorRT
8.x's ``nptype`` raises AttributeError as it does on numpy 1.24-1.26 (``np.bool``); plans carry the engine
inspector's per-layer JSON (``fake_layers``) when built with detailed profiling verbosity.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from collections import Counter
from typing import Any

import numpy as np
from fake_pycuda import GPU_NAME, make_driver  # noqa: F401 - GPU_NAME re-exported for the tests

NULLPTR = "pybind11::init(): factory function returned nullptr"
PLAN_MAGIC = b"FAKEPLAN\n"


class FakeGPU:
    def __init__(
        self, version: str = "10.3.0.30", fail: set[str] | frozenset[str] = frozenset(), dla_cores: int = 0,
        sm_count: int = 16,
    ) -> None:
        self.version = version
        self.dla_cores, self.sm_count = dla_cores, sm_count
        self.fail = set(fail)
        self.during_build: Any = None  # a callable run while the engine builds (the world changing meanwhile)
        self.counts: Counter[str] = Counter()
        self.stack: list[Any] = []  # pycuda's context stack (the tests use one thread at a time)
        self.driver_stack_leaks = 0
        self.memory: dict[int, np.ndarray] = {}
        self.last_flags: list[int] | None = None  # the builder flags of the last plan
        self.build_warnings: list[str] = []  # logged as TensorRT WARNINGs while a plan builds
        self.driver = make_driver(self)
        self.pycuda = _module("pycuda")
        self.pycuda.driver = self.driver  # type: ignore[attr-defined]
        self.tensorrt = self._tensorrt()

    module = staticmethod(lambda name: _module(name))

    def install(self, monkeypatch: Any) -> FakeGPU:
        monkeypatch.setitem(sys.modules, "tensorrt", self.tensorrt)
        monkeypatch.setitem(sys.modules, "pycuda", self.pycuda)
        monkeypatch.setitem(sys.modules, "pycuda.driver", self.driver)
        return self

    def install_for_process(self) -> FakeGPU:
        """For a subprocess that runs the ``gpu`` tests themselves against the fakes (a dry run of their code)."""
        sys.modules.update({"tensorrt": self.tensorrt, "pycuda": self.pycuda, "pycuda.driver": self.driver})
        return self

    def leftovers(self) -> dict[str, int]:
        """What was made and not released (or released with no context current): all zero when clean."""
        c = self.counts
        return {
            "streams": c["stream_created"] - c["stream_released_current"],
            "events": c["event_created"] - c["event_released_current"],
            "device_memory": c["mem_alloc"] - c["mem_free"],
            "pinned_memory": c["pinned"] - c["pinned_released_current"],
            "context_stack": len(self.stack),
            "unbalanced_push_pop": c["push"] - c["pop"],
            "driver_stack_leaks": self.driver_stack_leaks,
        }

    # -- tensorrt ------------------------------------------------------------------------------------------
    def _tensorrt(self) -> types.ModuleType:
        gpu = self
        t = _module("tensorrt")
        t.__version__ = self.version  # type: ignore[attr-defined]
        major = int(self.version.split(".")[0])

        class Severity:
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        class ILogger:
            pass

        ILogger.Severity = Severity  # type: ignore[attr-defined]
        ILogger.__init__ = lambda self: None  # type: ignore[method-assign]

        t.ILogger = ILogger  # type: ignore[attr-defined]
        t.Logger = ILogger  # type: ignore[attr-defined]
        t.TensorIOMode = types.SimpleNamespace(INPUT=1, OUTPUT=2)  # type: ignore[attr-defined]
        t.DataType = types.SimpleNamespace(FLOAT=0, HALF=1)  # type: ignore[attr-defined]
        t.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)  # type: ignore[attr-defined]
        t.DeviceType = types.SimpleNamespace(GPU=0, DLA=1)  # type: ignore[attr-defined]
        creation = {"EXPLICIT_BATCH": 0} if major < 10 else {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
        flags = {"FP16": 0, "INT8": 1, "GPU_FALLBACK": 3, "TF32": 6}
        if major >= 11:
            creation, flags = {"STRONGLY_TYPED": 0}, {"GPU_FALLBACK": 3, "TF32": 2}
        t.NetworkDefinitionCreationFlag = types.SimpleNamespace(**creation)  # type: ignore[attr-defined]
        t.BuilderFlag = types.SimpleNamespace(**flags)  # type: ignore[attr-defined]
        t.LayerInformationFormat = types.SimpleNamespace(ONELINE=0, JSON=1)  # type: ignore[attr-defined]
        t.ProfilingVerbosity = types.SimpleNamespace(LAYER_NAMES_ONLY=0, NONE=1, DETAILED=2)  # type: ignore[attr-defined]

        def nptype(dt: int) -> Any:
            if major < 10:  # TensorRT 8.5's table names np.bool, which numpy 1.24-1.26 do not have
                raise AttributeError("module 'numpy' has no attribute 'bool'")
            return {0: np.float32, 1: np.float16}[dt]

        t.nptype = nptype  # type: ignore[attr-defined]

        def factory(kind: str, logger: Any) -> None:
            if f"{kind.lower()}_nullptr" in gpu.fail:
                logger.log(Severity.ERROR, f"[{kind.lower()}.cpp::create{kind}] CUDA initialization failure with "
                                           "error: 35. Please check your CUDA installation")
                raise TypeError(NULLPTR)
            gpu.counts[kind.lower()] += 1

        class Network:
            def __init__(self) -> None:
                self.onnx: bytes = b""

        class Parser:
            def __init__(self, network: Network, logger: Any) -> None:
                self.network, self.logger, self.errors = network, logger, []

            def parse_from_file(self, path: str) -> bool:
                if "parse" in gpu.fail:
                    self.errors = ["In node 3 (importConv): UNSUPPORTED_NODE: fake parse failure"]
                    self.logger.log(Severity.ERROR, self.errors[0])
                    return False
                with open(path, "rb") as f:
                    self.network.onnx = f.read()
                return True

            @property
            def num_errors(self) -> int:
                return len(self.errors)

            def get_error(self, i: int) -> str:
                return self.errors[i]

        class Profile:
            def set_shape(self, name: str, mn: Any, opt: Any, mx: Any) -> None:
                self.shapes = [list(mn), list(opt), list(mx)]

        class Cache:
            def serialize(self) -> bytes:
                return b"fake timing cache"

        class Config:
            def __init__(self) -> None:
                self.flags: set[int] = set()
                self.profile: Profile | None = None
                self.cache: Cache | None = None

            def set_memory_pool_limit(self, pool: int, n: int) -> None:
                pass

            def set_flag(self, f: int) -> None:
                self.flags.add(f)

            def clear_flag(self, f: int) -> None:
                self.flags.discard(f)

            def add_optimization_profile(self, p: Profile) -> int:
                self.profile = p
                return 0

            def create_timing_cache(self, buf: bytes) -> Cache:
                return Cache()

            def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> bool:
                self.cache = cache
                return True

            def get_timing_cache(self) -> Cache | None:
                return self.cache

        class Builder:
            num_DLA_cores = gpu.dla_cores

            def __init__(self, logger: Any) -> None:
                factory("Builder", logger)
                self.logger = logger

            def create_network(self, flags: int = 0) -> Network:
                return Network()

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
                if "build_none" in gpu.fail:
                    return None
                gpu.counts["plans"] += 1
                for msg in gpu.build_warnings:
                    self.logger.log(Severity.WARNING, msg)
                if gpu.during_build is not None:
                    gpu.during_build()
                gpu.last_flags = sorted(config.flags)
                dla = getattr(config, "default_device_type", t.DeviceType.GPU) == t.DeviceType.DLA  # type: ignore[attr-defined]
                verbosity = getattr(getattr(t, "ProfilingVerbosity", None), "DETAILED", "no such member")
                detailed = getattr(config, "profiling_verbosity", None) == verbosity
                layers = fake_layers(network.onnx, config.flags, major, dla) if detailed else []
                head = json.dumps({"profile": config.profile.shapes if config.profile else None,
                                   "layers": layers}).encode()
                return PLAN_MAGIC + head + b"\n" + network.onnx

        class Engine:
            num_io_tensors = 2

            def __init__(self, profile: list[list[int]], onnx_bytes: bytes, layers: list[Any]) -> None:
                import onnxruntime

                self.profile, self.layers = profile, layers
                self.session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
                meta = self.session.get_modelmeta().custom_metadata_map
                self.scale = int(json.loads(meta["edgesr.spec"])["scale"])

            def get_tensor_name(self, i: int) -> str:
                return ["lr", "sr"][i]

            def get_tensor_mode(self, name: str) -> int:
                return t.TensorIOMode.INPUT if name == "lr" else t.TensorIOMode.OUTPUT  # type: ignore[attr-defined]

            def get_tensor_dtype(self, name: str) -> int:
                return 0

            def get_tensor_profile_shape(self, name: str, index: int) -> list[list[int]]:
                return self.profile

            def create_execution_context(self) -> ExecutionContext:
                return ExecutionContext(self)

            def create_engine_inspector(self) -> Any:
                layers = self.layers
                return types.SimpleNamespace(
                    get_engine_information=lambda fmt: json.dumps({"Layers": layers, "Bindings": ["lr", "sr"]})
                )

        class ExecutionContext:
            def __init__(self, engine: Engine) -> None:
                self.engine, self.shape, self.addr = engine, None, {}

            def set_input_shape(self, name: str, shape: Any) -> bool:
                mn, _, mx = self.engine.profile
                shape = [int(s) for s in shape]
                if not all(a <= s <= b for a, s, b in zip(mn, shape, mx, strict=True)):
                    return False
                self.shape = shape
                return True

            def get_tensor_shape(self, name: str) -> tuple[int, ...]:
                n, c, h, w = self.shape  # type: ignore[misc]
                s = self.engine.scale
                return (n, c, h * s, w * s) if name == "sr" else (n, c, h, w)

            def set_tensor_address(self, name: str, addr: int) -> bool:
                self.addr[name] = addr
                return True

            def execute_async_v3(self, stream_handle: int) -> bool:
                n = int(np.prod(self.shape))
                x = gpu.memory[self.addr["lr"]][: 4 * n].view(np.float32).reshape(self.shape)
                (y,) = self.engine.session.run(None, {"lr": x})
                raw = np.ascontiguousarray(y, np.float32).view(np.uint8).ravel()
                gpu.memory[self.addr["sr"]][: raw.size] = raw
                return True

        class Runtime:
            num_DLA_cores = gpu.dla_cores

            def __init__(self, logger: Any) -> None:
                factory("Runtime", logger)
                self.logger = logger

            def deserialize_cuda_engine(self, plan: bytes) -> Engine | None:
                if not plan.startswith(PLAN_MAGIC):
                    self.logger.log(Severity.ERROR, "Serialization assertion magicTagRead == kMAGIC_TAG failed")
                    return None
                head, onnx_bytes = plan[len(PLAN_MAGIC):].split(b"\n", 1)
                meta = json.loads(head)
                return Engine(meta["profile"], onnx_bytes, meta.get("layers", []))

        t.Builder, t.Runtime, t.OnnxParser = Builder, Runtime, Parser  # type: ignore[attr-defined]
        t.ICudaEngine = Engine  # type: ignore[attr-defined]
        return t


def fake_layers(onnx_bytes: bytes, flags: set[int], major: int, dla: bool) -> list[dict[str, Any]]:
    """The engine inspector's JSON layers for a fake plan, in TensorRT's shape: one per Conv / PRelu /
    DepthToSpace / Add node, with ``Format/Datatype`` per tensor: INT8 input where a DequantizeLinear feeds a
    Conv, else FP16 where the FP16 flag is set (8.x/10.x, weakly typed: FP16 = 0) or, on 11.x (strongly typed),
    where the node's output type in the ONNX is FP16; else FP32. On a DLA build, DepthToSpace falls back to the
    GPU, the rest run on the DLA."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(onnx_bytes))
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    elem = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.output)}
    weak_fp16 = major < 11 and 0 in flags
    fmt = {"int8": "Row major Int8 format", "fp16": "Channel major FP16 format where channel % 8 == 0",
           "fp32": "Row major linear FP32"}
    layers = []
    for i, node in enumerate(n for n in model.graph.node if n.op_type in ("Conv", "PRelu", "DepthToSpace", "Add")):
        typed_fp16 = elem.get(node.output[0]) == onnx.TensorProto.FLOAT16  # strongly typed: the ONNX's type
        half = weak_fp16 if major < 11 else typed_fp16
        kind_in = "int8" if node.op_type == "Conv" and producer.get(node.input[0]) == "DequantizeLinear" else \
            "fp16" if half else "fp32"
        kind_out = "fp16" if half else "fp32"
        on_dla = dla and node.op_type != "DepthToSpace"
        layers.append({
            "Name": f"{{ForeignNode[{node.name}]}}" if on_dla else node.name or f"layer{i}",
            "LayerType": "DLA" if on_dla else {"Conv": "CaskConvolution"}.get(node.op_type, node.op_type),
            "Inputs": [{"Name": node.input[0], "Location": "Device", "Format/Datatype": fmt[kind_in]}],
            "Outputs": [{"Name": node.output[0], "Location": "Device", "Format/Datatype": fmt[kind_out]}],
        })
    return layers


def _module(name: str) -> types.ModuleType:  # also FakeGPU.module
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)  # importlib.util.find_spec() works on it
    return m

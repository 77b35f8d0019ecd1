"""The ``pycuda.driver`` stand-in of ``fake_trt.FakeGPU`` (see there): pycuda's ``driver.Error`` family, a
per-thread-like context stack, and streams, events, device and pinned memory that need a current context
to be made and count whether they are released while one is current (pycuda ``src/cpp/cuda.hpp``)."""

from __future__ import annotations

import types
import weakref
from typing import Any

import numpy as np

GPU_NAME, CC = "Fake Orin (nvgpu)", (8, 7)
MULTIPROCESSOR_COUNT = 16  # pycuda's device_attribute.MULTIPROCESSOR_COUNT (CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)


def make_driver(gpu: Any) -> types.ModuleType:
    """The ``pycuda.driver`` stand-in of ``gpu`` (a ``fake_trt.FakeGPU``)."""
    d = gpu.module("pycuda.driver")

    class Error(Exception):
        pass

    class MemoryError(Error):  # noqa: A001 - pycuda's name
        pass

    class LogicError(Error):
        pass

    class LaunchError(Error):
        pass

    def need_context(what: str) -> None:
        if not gpu.stack:
            raise LogicError(f"{what} failed: invalid device context - no currently active context?")

    def released(kind: str) -> None:
        gpu.counts[f"{kind}_released"] += 1
        if gpu.stack:
            gpu.counts[f"{kind}_released_current"] += 1

    class Context:
        def __init__(self) -> None:
            self.valid = True

        def push(self) -> None:
            gpu.counts["push"] += 1
            gpu.stack.append(self)

        @staticmethod
        def pop() -> None:
            if not gpu.stack:
                raise LogicError("context::pop failed: cannot pop non-current context")
            gpu.counts["pop"] += 1
            gpu.stack.pop()

        @staticmethod
        def get_current() -> Context | None:
            return gpu.stack[-1] if gpu.stack else None

        def detach(self) -> None:
            gpu.counts["detach"] += 1
            if not (gpu.stack and gpu.stack[-1] is self):
                gpu.driver_stack_leaks += 1  # pushed for cuDevicePrimaryCtxRelease, never popped
            self.valid = False

    class Device:
        def __init__(self, index: int) -> None:
            if index != 0:
                raise LogicError("cuDeviceGet failed: invalid device ordinal")

        @staticmethod
        def count() -> int:
            return 1

        def name(self) -> str:
            return GPU_NAME

        def compute_capability(self) -> tuple[int, int]:
            return CC

        def get_attribute(self, attribute: int) -> int:
            return {MULTIPROCESSOR_COUNT: gpu.sm_count}[attribute]

        def total_memory(self) -> int:
            return 8 << 30

        def retain_primary_context(self) -> Context:
            gpu.counts["retain"] += 1
            return Context()

    class Stream:
        def __init__(self, flags: int = 0) -> None:
            need_context("cuStreamCreate")
            gpu.counts["stream_created"] += 1
            self.handle = 7000 + gpu.counts["stream_created"]

        def synchronize(self) -> None:
            pass

        def __del__(self) -> None:
            released("stream")

    class Event:
        def __init__(self) -> None:
            need_context("cuEventCreate")
            gpu.counts["event_created"] += 1

        def record(self, stream: Stream) -> None:
            pass

        def synchronize(self) -> None:
            if "launch" in gpu.fail:
                raise LaunchError("cuEventSynchronize failed: unspecified launch failure")

        def __del__(self) -> None:
            released("event")

    class DeviceAllocation:
        def __init__(self, nbytes: int) -> None:
            self.addr = 0x10000 * (1 + gpu.counts["mem_alloc"])
            gpu.memory[self.addr] = np.zeros(nbytes, np.uint8)
            gpu.counts["mem_alloc"] += 1
            self.live = True

        def __int__(self) -> int:
            return self.addr

        def free(self) -> None:
            if self.live:
                self.live = False
                gpu.memory.pop(self.addr, None)
                gpu.counts["mem_free"] += 1
                if gpu.stack:
                    gpu.counts["mem_free_current"] += 1

        def __del__(self) -> None:
            self.free()

    def mem_alloc(nbytes: int) -> DeviceAllocation:
        need_context("cuMemAlloc")
        if "mem_alloc" in gpu.fail:
            raise MemoryError("cuMemAlloc failed: out of memory")
        return DeviceAllocation(int(nbytes))

    def pagelocked_empty(shape: Any, dtype: Any) -> np.ndarray:
        need_context("cuMemHostAlloc")
        if "pagelocked" in gpu.fail:
            raise MemoryError("cuMemHostAlloc failed: out of memory")
        arr = np.empty(shape, dtype)
        gpu.counts["pinned"] += 1
        weakref.finalize(arr, released, "pinned")
        return arr

    def memcpy_htod_async(dest: DeviceAllocation, src: np.ndarray, stream: Stream | None = None) -> None:
        need_context("cuMemcpyHtoDAsync")
        raw = np.ascontiguousarray(src).view(np.uint8).ravel()
        gpu.memory[int(dest)][: raw.size] = raw

    def memcpy_dtoh_async(dest: np.ndarray, src: DeviceAllocation, stream: Stream | None = None) -> None:
        need_context("cuMemcpyDtoHAsync")
        out = dest.view(np.uint8).reshape(-1)
        out[:] = gpu.memory[int(src)][: out.size]

    def mem_get_info() -> tuple[int, int]:
        need_context("cuMemGetInfo")
        return 512 << 20, 8 << 30

    for name, obj in dict(locals()).items():
        if not name.startswith("_") and name not in ("gpu", "d"):
            setattr(d, name, obj)
    d.init = lambda flags=0: None  # type: ignore[attr-defined]
    d.device_attribute = types.SimpleNamespace(MULTIPROCESSOR_COUNT=MULTIPROCESSOR_COUNT)  # type: ignore[attr-defined]
    return d

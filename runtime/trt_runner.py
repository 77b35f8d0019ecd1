"""TensorRT runner: pinned host buffers, async copies and ``execute_async_v3`` on one CUDA stream (pycuda),
buffers allocated once for the profile's max shape and reused, two frames in flight.

API used and where it exists (TensorRT Python bindings ``pyCore.cpp`` at 8.5/8.6/10.x/11.x, pycuda
``doc/driver.rst``; docs/tensorrt.md has the per-version table):

- name-based I/O: ``num_io_tensors``, ``get_tensor_name/mode/dtype``, ``get_tensor_profile_shape(name, 0)``,
  ``set_input_shape``, ``context.get_tensor_shape``, ``set_tensor_address``, ``execute_async_v3``: present
  from TensorRT 8.5 through 11.x; the binding API (``num_bindings``, ``execute_async_v2``...) is gone in 10.0,
  so it is never used. TensorRT < 8.5 is refused.
- the sidecar's precision label is checked against the plan's layers (engine inspector, 8.2+:
  ``runtime.trt_inspect.check_label``): a relabelled engine is refused, an engine whose layers cannot be listed warns.
- ``deserialize_cuda_engine`` returns None on failure, the reason only in the logger -> we keep the logger's
  last errors for the message. ``set_input_shape`` / ``execute_async_v3`` return False on failure.
- ``runtime.engine_host_code_allowed`` (8.6+, hasattr-guarded): needed for version-compatible plans.
- I/O types map to numpy by ``trt.DataType`` member name (``trt_common.numpy_dtype``), never ``trt.nptype``:
  TensorRT 8.5's raises AttributeError on numpy >= 1.24 (``np.bool``), and every version's raises TypeError
  for BF16/FP8/INT4/FP4. A type numpy lacks -> IncompatibleArtifactError.
- CUDA context: the device's PRIMARY context, the one the CUDA runtime (and so TensorRT) uses, retained once
  per process as pycuda's ``autoprimaryctx`` does (``trt_common.primary_context``, never detached); pycuda
  contexts are per thread, so every method pushes it and pops it (``Context.push``/``Context.pop``) and may be
  called from any one thread at a time (a lock enforces it). ``close`` frees the execution context, engine,
  device and pinned buffers, events and the stream while the context is current, then pops it
  ("context is destroyed" / "context stack was not empty" otherwise: inducer/pycuda #460).
- Failures of TensorRT (nullptr Runtime) and pycuda (``driver.Error`` family: out of memory, launch
  errors...) are one-line ``DeviceError``s (``trt_common``), and leave nothing allocated behind.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.artifact import ShapeProfile, Sidecar, sha256_file
from edgesr.errors import BadInputError, DeviceError, EdgeSRError, IncompatibleArtifactError, UsageError
from edgesr.runtime.runner import Runner
from edgesr.runtime.size_rule import crop_output, pad_input
from edgesr.runtime.trt_common import (
    create,
    cuda_errors,
    import_tensorrt,
    mib,
    numpy_dtype,
    open_gpu,
    primary_context,
    trt_logger,
)
from edgesr.runtime.trt_compat import REBUILD, check_engine_compatible
from edgesr.runtime.trt_inspect import check_label, engine_layers

WHY = "needed to run TensorRT engines (JetPack ships it; on a desktop: pip install 'edgesr[trt]')"
_logger = trt_logger  # the one TensorRT logger of the process (shared with the builder)


@dataclass
class _Slot:
    host_in: np.ndarray  # page-locked, flat, max size
    host_out: np.ndarray
    dev_in: Any  # pycuda DeviceAllocation
    dev_out: Any
    done: Any  # pycuda Event recorded after the output copy
    busy: bool = False


@dataclass(frozen=True)
class _Ticket:
    slot: int
    shape: tuple[int, ...]
    hw: tuple[int, int] | None = None  # the unpadded input HxW (a model with a size rule)
    padded: tuple[int, int] | None = None  # the padded input HxW that ran (``shape`` is the output's)


class TensorRTRunner(Runner):
    backend = "tensorrt"
    max_in_flight = 2

    def __init__(
        self, path: str | Path, sidecar: Sidecar | None, providers: list[str] | None = None, threads: int | None = None
    ) -> None:
        if providers:
            raise UsageError("--providers applies to ONNX Runtime; this is a TensorRT engine")
        if sidecar is None:
            raise IncompatibleArtifactError(f"{Path(path).name}: a TensorRT engine needs its sidecar")
        self.path = Path(path)
        self.sidecar = sidecar
        self.spec, self.precision, self.profile = sidecar.spec, sidecar.precision, sidecar.profile
        trt = import_tensorrt(WHY)  # refuses TensorRT < 8.5 (no name-based I/O API) in one line
        cuda, facts = open_gpu(WHY)
        self._trt, self._cuda = trt, cuda
        check_engine_compatible(
            sidecar, self.path.name, trt.__version__, facts,
            dla_cores=_dla_cores(trt) if (sidecar.device or {}).get("dla_core") is not None else 0,
        )
        if sidecar.engine_sha256 != sha256_file(self.path):
            raise IncompatibleArtifactError(f"{self.path.name} is not the file its sidecar describes: {REBUILD}")
        self._lock = threading.RLock()
        self._slots: list[_Slot] = []
        self._stream: Any = None
        self._next = 0
        self._shape: tuple[int, ...] | None = None
        self._out_shape: tuple[int, ...] = ()
        self.context: Any = None
        self.engine: Any = None
        self._runtime: Any = None
        self._ctx = primary_context(cuda, 0)
        try:
            with self._current():
                self._load()
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        if self._ctx is None:
            raise EdgeSRError(f"the TensorRT runner for {self.path.name} is closed")
        with self._lock:
            with cuda_errors(self._cuda, "making the GPU's primary context current"):
                self._ctx.push()
            try:
                yield
            except BaseException as exc:
                # The finished frames below (_load, _enqueue_here, _result_here) must not keep slots, pinned
                # buffers or events alive in the traceback until after close() has popped the context.
                _clear_frames(exc)
                raise
            finally:
                with contextlib.suppress(self._cuda.Error):
                    self._cuda.Context.pop()

    def _load(self) -> None:
        trt, cuda = self._trt, self._cuda
        log = _logger(trt)
        self._runtime = create(trt, "Runtime", log)
        if self.sidecar.engine_facts.get("version_compatible") and hasattr(self._runtime, "engine_host_code_allowed"):
            self._runtime.engine_host_code_allowed = True  # 8.6+: version-compatible plans embed the lean runtime
        dla = (self.sidecar.device or {}).get("dla_core")
        if dla is not None:
            self._runtime.DLA_core = int(dla)
        log.clear()  # a message below is about this engine, never an earlier failure
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise IncompatibleArtifactError(f"TensorRT cannot load {self.path.name} ({log.last()}): {REBUILD}")
        # the label is the sidecar's word; the plan's layers (engine inspector) are the engine's own
        check_label(self.path.name, self.precision, engine_layers(trt, self.engine), str(trt.__version__))
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        ins = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(ins) != 1 or len(outs) != 1:
            raise IncompatibleArtifactError(f"{self.path.name} is not an edgesr SR engine (I/O tensors: {names})")
        self.input_name, self.output_name = ins[0], outs[0]
        io_types = {n: self.engine.get_tensor_dtype(n) for n in (self.input_name, self.output_name)}
        in_dtype, out_dtype = (numpy_dtype(trt, t) for t in io_types.values())
        if in_dtype is None or out_dtype is None:  # BF16/FP8/INT4 I/O have no numpy type
            raise IncompatibleArtifactError(
                f"{self.path.name} has I/O of a type numpy lacks ({', '.join(map(str, io_types.values()))}): {REBUILD}"
            )
        mn, _, mx = (tuple(int(d) for d in s) for s in self.engine.get_tensor_profile_shape(self.input_name, 0))
        opt = self.sidecar.profile.opt
        opt = (min(max(opt[0], mn[2]), mx[2]), min(max(opt[1], mn[3]), mx[3]))
        self.profile = ShapeProfile((mn[2], mn[3]), opt, (mx[2], mx[3]), max_batch=int(mx[0]))  # the engine's own
        log.clear()
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise DeviceError(f"TensorRT cannot create an execution context for {self.path.name} ({log.last()})")
        if not self.context.set_input_shape(self.input_name, mx):
            raise IncompatibleArtifactError(f"{self.path.name} rejects its own max shape {mx} ({log.last()})")
        out_max = tuple(int(d) for d in self.context.get_tensor_shape(self.output_name))
        with cuda_errors(cuda, "creating a stream"):
            self._stream = cuda.Stream()  # one non-default stream ("default stream ... performance issues", 10.16)
        if self.spec.fixed_tile is not None or self.spec.in_channels == 1:
            self.max_in_flight = 1  # its frames run as several enqueues each (tiles, gray planes), one frame at a time
        n_in = int(np.prod(mx)) * in_dtype.itemsize
        n_out = int(np.prod(out_max)) * out_dtype.itemsize
        sizes = "x".join(map(str, mx)) + " -> " + "x".join(map(str, out_max))
        what = (
            f"allocating {self.max_in_flight} x (input {mib(n_in)} + output {mib(n_out)}) of pinned host and device "
            f"memory for the engine's max shape {sizes}"
        )
        with cuda_errors(cuda, what, memory=True):
            for _ in range(self.max_in_flight):  # allocated once, for the max shape
                h_in = cuda.pagelocked_empty(int(np.prod(mx)), in_dtype)
                h_out = cuda.pagelocked_empty(int(np.prod(out_max)), out_dtype)
                d_in = cuda.mem_alloc(h_in.nbytes)
                self._slots.append(_Slot(h_in, h_out, d_in, None, cuda.Event()))  # kept at once: close() frees it
                self._slots[-1].dev_out = cuda.mem_alloc(h_out.nbytes)

    # -- inference ---------------------------------------------------------------------------------------------
    def submit(self, x: np.ndarray) -> object:
        if self.spec.fixed_tile is not None or x.shape[1] != self.spec.in_channels:
            return self.infer(x)  # tiles, or a gray plane per RGB channel: several runs, done here (for ``result``)
        self.check_input(x)
        padded, hw = pad_input(x, self.spec)
        ticket = self._enqueue(padded)
        return replace(ticket, hw=hw, padded=(padded.shape[2], padded.shape[3])) if padded is not x else ticket

    def _enqueue(self, x: np.ndarray) -> _Ticket:
        with self._current():
            return self._enqueue_here(x)

    def _enqueue_here(self, x: np.ndarray) -> _Ticket:
        """With the context current. A frame of its own, so ``_current`` can clear its locals on an error."""
        cuda, log = self._cuda, _logger(self._trt)
        k = self._next % len(self._slots)
        slot = self._slots[k]
        if slot.busy:
            raise EdgeSRError("TensorRT runner: more than max_in_flight frames submitted without result()")
        shape = tuple(int(d) for d in x.shape)
        if shape != self._shape:
            if any(s.busy for s in self._slots):
                with cuda_errors(cuda, "waiting for the frames in flight"):
                    self._stream.synchronize()  # never reshape the context under in-flight work
            log.clear()
            if not self.context.set_input_shape(self.input_name, shape):
                raise BadInputError(f"{self.path.name} rejects input shape {shape} ({log.last()})")
            self._shape = shape
            self._out_shape = tuple(int(d) for d in self.context.get_tensor_shape(self.output_name))
        n_in, n_out = int(np.prod(shape)), int(np.prod(self._out_shape))
        host_in = slot.host_in[:n_in]  # a contiguous view of pinned memory stays pinned
        np.copyto(host_in.reshape(shape), x, casting="same_kind")
        self.context.set_tensor_address(self.input_name, int(slot.dev_in))
        self.context.set_tensor_address(self.output_name, int(slot.dev_out))
        what = f"running {self.path.name} on a {'x'.join(map(str, shape))} input ({mib(host_in.nbytes)} in)"
        with cuda_errors(cuda, what):
            cuda.memcpy_htod_async(slot.dev_in, host_in, self._stream)
            log.clear()
            if not self.context.execute_async_v3(self._stream.handle):
                raise EdgeSRError(f"TensorRT execution failed on {self.path.name}: {log.last()}")
            cuda.memcpy_dtoh_async(slot.host_out[:n_out], slot.dev_out, self._stream)
            slot.done.record(self._stream)
        slot.busy = True
        self._next += 1
        return _Ticket(k, self._out_shape)

    def result(self, ticket: object) -> np.ndarray:
        if isinstance(ticket, np.ndarray):
            return ticket
        assert isinstance(ticket, _Ticket)
        with self._current():
            return self._result_here(ticket)

    def _result_here(self, ticket: _Ticket) -> np.ndarray:
        """With the context current (see ``_enqueue_here``)."""
        slot = self._slots[ticket.slot]
        with cuda_errors(self._cuda, f"finishing a frame of {self.path.name} (output {ticket.shape})"):
            slot.done.synchronize()
        n = int(np.prod(ticket.shape))
        out = slot.host_out[:n].reshape(ticket.shape).astype(np.float32, copy=True)  # the slot is reused
        slot.busy = False
        return crop_output(out, ticket.hw, self.spec.scale, ticket.padded) if ticket.hw else out

    def _infer(self, x: np.ndarray) -> np.ndarray:
        b = self.profile.max_batch  # a gray model's RGB frame is 3 planes: more than a batch-1 engine takes at once
        if x.shape[0] <= b:
            return self.result(self._enqueue(x))
        return np.concatenate([self.result(self._enqueue(x[i : i + b])) for i in range(0, x.shape[0], b)])

    def close(self) -> None:
        """Release everything while the primary context is current, then pop it. Safe to call twice and
        after a failed ``__init__``; a CUDA error on the way (a dead context) does not stop the release."""
        ctx = getattr(self, "_ctx", None)
        if ctx is None:
            return
        cuda = self._cuda
        with self._lock:
            self._ctx = None
            pushed = False
            with contextlib.suppress(cuda.Error):
                ctx.push()
                pushed = True
            try:
                if self._stream is not None:
                    with contextlib.suppress(cuda.Error):
                        self._stream.synchronize()
                slots, self._slots = self._slots, []
                _release(cuda, slots)  # device memory, pinned host buffers and events, while current
                self.context = None  # execution context before engine before runtime
                self.engine = None
                self._runtime = None
                self._stream = None  # pycuda destroys a stream when it is dropped: here, with its context current
            finally:
                if pushed:
                    with contextlib.suppress(cuda.Error):
                        cuda.Context.pop()


def _clear_frames(exc: BaseException | None) -> None:
    """Clear the finished frames of ``exc``'s traceback and of the exceptions chained to it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def _release(cuda: Any, slots: list[_Slot]) -> None:
    """Free the slots' device memory and drop their last references (pinned memory, events) here, in a
    function of its own: a loop variable in ``close`` would keep the last slot alive past the pop."""
    for slot in slots:
        for mem in (slot.dev_in, slot.dev_out):
            if mem is not None:
                with contextlib.suppress(cuda.Error):
                    mem.free()
    slots.clear()


def _dla_cores(trt: Any) -> int:
    runtime = create(trt, "Runtime", _logger(trt))  # nullptr (no usable GPU) is a DeviceError, not "0 cores"
    try:
        return int(runtime.num_DLA_cores)
    except Exception:
        return 0

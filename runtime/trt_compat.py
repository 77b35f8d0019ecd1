"""Can this machine run that TensorRT engine? Decided from the sidecar BEFORE deserialising.

A plan is tied to the TensorRT build that made it and to the GPU model: "Serialized engines are not
portable across platforms or TensorRT versions" (TensorRT 8.5.3 support matrix); deserialising anyway
returns None with "The engine plan file is not compatible with this version of TensorRT, expecting
library version X got Y, please rebuild" or "...generated on an incompatible device, expecting compute
8.6 got compute 7.5" (NVIDIA/TensorRT #574, #2176). The GPU "model" is more than its name: every Jetson Orin
module's GPU is named "Orin" (compute 8.7), yet an AGX Orin (14-16 SMs) and an Orin Nano (4-8 SMs) are different
devices, for which TensorRT only warns ("Using an engine plan file across different models of devices is not
recommended"). So the SM count and, on a Jetson, the module part number recorded in the sidecar's ``device`` are
compared too. Exceptions, recorded by the builder in the sidecar's ``build["engine"]`` (``Sidecar.engine_facts``,
where ``edgesr build-engine`` stores its build facts):

- ``version_compatible`` (``BuilderFlag.VERSION_COMPATIBLE``, TensorRT 8.6+): the plan runs on the same
  or a later runtime of the same major, and 8.x -> 10.x or 10.x -> 11.x ("TensorRT 10 version-compatible
  engines can run with a TensorRT 11 runtime, and TensorRT 8 ... with a TensorRT 10 runtime. No other
  combination", TensorRT 11.4.1 support matrix).
- ``hardware_compatibility`` = ``ampere_plus`` (``HardwareCompatibilityLevel.AMPERE_PLUS``, 8.6+): any GPU
  of compute capability 8.0 or newer; ``same_compute_capability`` (10.9+): same CC, any GPU model.

Pure functions of strings and numbers, so they are tested without TensorRT.
"""

from __future__ import annotations

import re
from typing import Any

from edgesr.artifact import Sidecar
from edgesr.errors import IncompatibleArtifactError
from edgesr.machine import GpuFacts

REBUILD = "rebuild it on this device with `edgesr build-engine`"
# (built major, runtime major) pairs a version-compatible plan may cross (TensorRT 11.4.1 support matrix).
CROSS_MAJOR_OK = {(8, 10), (10, 11)}


def parse_version(text: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", str(text))
    if not nums:
        raise IncompatibleArtifactError(f"cannot read the TensorRT version {text!r} in the engine sidecar")
    return tuple(int(n) for n in nums)


def same_release(a: str, b: str) -> bool:
    """'10.3.0' and '10.3.0.30' are the same release (a sidecar may record fewer fields)."""
    va, vb = parse_version(a), parse_version(b)
    n = min(len(va), len(vb), 4)
    return n >= 3 and va[:n] == vb[:n]


def sidecar_gpu(device: dict[str, Any]) -> tuple[str | None, tuple[int, int] | None]:
    """GPU name and compute capability from a sidecar ``device`` dict, whichever key spelling was used."""
    name = next((str(device[k]) for k in ("gpu_name", "gpu", "name") if device.get(k)), None)
    raw = next((device[k] for k in ("compute_capability", "cc", "sm") if device.get(k) is not None), None)
    cc: tuple[int, int] | None = None
    if isinstance(raw, (list, tuple)) and len(raw) == 2:
        cc = (int(raw[0]), int(raw[1]))
    elif raw is not None:
        text = str(raw).lower().removeprefix("sm_").removeprefix("sm")
        if "." in text:
            major, minor = text.split(".", 1)
            cc = (int(major), int(minor))
        elif text.isdigit():
            cc = (int(text[:-1]), int(text[-1]))
    return name, cc


def check_engine_compatible(
    sidecar: Sidecar,
    engine_name: str,
    trt_version: str,
    gpu: GpuFacts,
    dla_cores: int = 0,
) -> None:
    """Raise ``IncompatibleArtifactError`` (one line, with the fix) if the engine cannot run here."""
    built = sidecar.backend_version
    build = sidecar.engine_facts
    if build.get("version_compatible"):
        vb, vr = parse_version(built), parse_version(trt_version)
        ok = (vb[0] == vr[0] and vr >= vb) or (vb[0], vr[0]) in CROSS_MAJOR_OK
        if not ok:
            raise IncompatibleArtifactError(
                f"{engine_name} is a version-compatible engine from TensorRT {built}, which TensorRT {trt_version} "
                f"cannot run: {REBUILD}"
            )
    elif not same_release(built, trt_version):
        raise IncompatibleArtifactError(
            f"{engine_name} was built with TensorRT {built}, this machine has TensorRT {trt_version}: {REBUILD}"
        )
    device = sidecar.device or {}
    want_name, want_cc = sidecar_gpu(device)
    here = gpu.describe()
    cc = gpu.compute_capability or (0, 0)
    level = str(build.get("hardware_compatibility", "none")).lower()
    if level in ("ampere_plus", "ampere+"):
        if cc < (8, 0):
            raise IncompatibleArtifactError(
                f"{engine_name} was built for Ampere or newer GPUs; this GPU is {here}: {REBUILD}"
            )
    elif want_cc is not None and want_cc != tuple(cc):
        raise IncompatibleArtifactError(
            f"{engine_name} was built for {want_name or 'a GPU'} (compute {want_cc[0]}.{want_cc[1]}), this GPU is "
            f"{here}: {REBUILD}"
        )
    elif level != "same_compute_capability":
        if want_name and _norm(want_name) != _norm(gpu.name):
            raise IncompatibleArtifactError(
                f"{engine_name} was built on a {want_name}, this GPU is {here} (TensorRT plans are tied to the GPU "
                f"model): {REBUILD}"
            )
        _check_same_model(engine_name, device, gpu)
    dla = (sidecar.device or {}).get("dla_core")
    if dla is not None and int(dla) >= dla_cores:
        raise IncompatibleArtifactError(
            f"{engine_name} runs on DLA core {dla}, but this device has {dla_cores} DLA cores: {REBUILD}"
        )


def _check_same_model(engine_name: str, device: dict[str, Any], gpu: GpuFacts) -> None:
    """Same GPU name, but another device: the SM count or the Jetson module differs (Orin modules)."""
    sms, module = device.get("sm_count"), device.get("module")
    if sms is not None and gpu.sm_count is not None and int(sms) != gpu.sm_count:
        raise IncompatibleArtifactError(
            f"{engine_name} was built on a {device.get('gpu_name', 'GPU')} with {sms} SMs"
            f"{f' ({module})' if module else ''}, this GPU is {gpu.describe()}: another device model: {REBUILD}"
        )
    if module and gpu.module and _norm(str(module)) != _norm(gpu.module):
        raise IncompatibleArtifactError(
            f"{engine_name} was built on Jetson module {module}, this is {gpu.module}: {REBUILD}"
        )


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("nvidia", "").split())

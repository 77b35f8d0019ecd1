"""Facts about this machine, in one place: CPU model, cores and features (VNNI, native bf16),
memory, GPU, Jetson model and power mode, load, and library versions.

``edgesr info``, bench headers, gate reports and ``--amp auto`` all read them here. Every source
is optional (a missing tool or file leaves its field ``None``): the same code runs on a desktop,
a CPU-only box and a Jetson alike. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")  # the CPU-feature probes' input (tests point it at a file of their own)
DEVICE_TREE = Path("/proc/device-tree")  # Jetson: model, compatible (module part number)
TEGRA_RELEASE = Path("/etc/nv_tegra_release")  # Jetson: the L4T release (R35 = JetPack 5, R36 = JetPack 6)


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(errors="replace").replace("\x00", "").strip() or None
    except OSError:
        return None


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def cpu_flags() -> list[str] | None:
    """The ``flags`` line of ``/proc/cpuinfo`` (x86), split; None when unreadable or absent."""
    line = next((ln for ln in (_read(CPUINFO) or "").splitlines() if ln.startswith("flags")), "")
    return line.split(":", 1)[1].split() if ":" in line else None


def cpu_has_native_bf16() -> bool:
    """avx512_bf16 / amx_bf16. Without them bf16 autocast is emulated and slower than fp32."""
    flags = cpu_flags() or []
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_vnni() -> bool | None:
    """Whether this x86 CPU has VNNI (no int16 saturation in 8-bit kernels); None if unknown."""
    flags = cpu_flags()
    if flags is None:
        return None
    return any(v in flags for v in ("avx512_vnni", "avx_vnni", "avx_vnni_int8"))


def cpu_model() -> str:
    info = _read(CPUINFO) or ""
    for key in ("model name", "Model", "Hardware"):  # x86, then ARM (Jetson: "Model" is absent, CPU part is)
        for line in info.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def jetson() -> dict[str, Any] | None:
    """Jetson model (device tree), L4T release and power mode (``nvpmodel -q``), or None elsewhere."""
    model = _read(DEVICE_TREE / "model")
    release = _read(TEGRA_RELEASE)
    if model is None or ("jetson" not in model.lower() and release is None):
        return None
    mode = _run(["nvpmodel", "-q"])
    return {
        "model": model,
        "l4t": release.splitlines()[0] if release else None,
        "power_mode": " ".join(mode.split()) if mode else "unknown (nvpmodel not found)",
    }


def gpus() -> list[str]:
    """GPU names from nvidia-smi (desktop), else the Jetson's integrated GPU, else none."""
    out = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    if out:
        return [", ".join(p.strip() for p in line.split(",")) for line in out.splitlines() if line.strip()]
    return []


@dataclass(frozen=True)
class GpuFacts:
    """GPU ``index`` as an engine is tied to it: name, compute capability, SM count and, on a Jetson, the module.

    Every Orin module's GPU is named "Orin" with compute 8.7; the SM count (AGX Orin 64GB: 16, 32GB: 14, Orin NX
    and Orin Nano 8GB: 8, Orin Nano 4GB: 4) and the module (device tree) tell them apart."""

    name: str
    compute_capability: tuple[int, int] | None = None
    sm_count: int | None = None
    memory_mib: int | None = None
    module: str | None = None  # Jetson: the module's part number (p3701-0005...) or model, else None
    source: str = "pycuda"

    def sidecar(self) -> dict[str, Any]:
        """The keys an engine sidecar's ``device`` records (``edgesr.runtime.trt_compat`` compares them)."""
        out: dict[str, Any] = {"gpu_name": self.name}
        if self.compute_capability is not None:
            out["compute_capability"] = "{}.{}".format(*self.compute_capability)
        if self.sm_count is not None:
            out["sm_count"] = self.sm_count
        if self.module is not None:
            out["module"] = self.module
        return out

    def describe(self) -> str:
        cc = self.compute_capability
        parts = [f"compute {cc[0]}.{cc[1]}"] if cc else []
        if self.sm_count is not None:
            parts.append(f"{self.sm_count} SMs")
        if self.memory_mib is not None:
            parts.append(f"{self.memory_mib} MiB")
        if self.module is not None:
            parts.append(f"module {self.module}")
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


def jetson_module() -> str | None:
    """The Jetson module: its part number from the device tree's ``compatible`` (``nvidia,p3767-0005``: the
    module, whatever the carrier board), else the device-tree model; None elsewhere."""
    model = _read(DEVICE_TREE / "model")
    if model is None or ("jetson" not in model.lower() and _read(TEGRA_RELEASE) is None):
        return None
    try:  # NUL-separated entries: "nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"
        compatible = (DEVICE_TREE / "compatible").read_bytes().decode(errors="replace").split("\x00")
    except OSError:
        compatible = []
    for entry in compatible:
        part = entry.split(",", 1)[-1]
        if re.fullmatch(r"p\d{4}-\d{4}", part):
            return part
    return model


def gpu_facts(cuda: Any = None, index: int = 0) -> GpuFacts | None:
    """The one GPU probe. With ``cuda`` (pycuda's driver, initialised by the caller): GPU ``index`` from it, and
    its errors raise. Without: pycuda if it imports and sees a GPU, else nvidia-smi's name, else None."""
    if cuda is None:
        try:
            import pycuda.driver as driver  # type: ignore[import-not-found]

            driver.init()
            if driver.Device.count() > index:
                return gpu_facts(driver, index)
        except Exception:  # no pycuda, no driver, no GPU: ask nvidia-smi
            pass
        out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
        names = out.splitlines() if out else []
        return GpuFacts(names[index].strip(), source="nvidia-smi") if len(names) > index else None
    dev = cuda.Device(index)
    major, minor = dev.compute_capability()
    sms = None
    attribute = getattr(cuda, "device_attribute", None)
    if attribute is not None and hasattr(attribute, "MULTIPROCESSOR_COUNT"):
        sms = int(dev.get_attribute(attribute.MULTIPROCESSOR_COUNT))
    memory = int(dev.total_memory()) >> 20 if hasattr(dev, "total_memory") else None
    return GpuFacts(str(dev.name()), (int(major), int(minor)), sms, memory, jetson_module())


def gpu_name() -> str:
    """The first GPU in one line (``edgesr info``), or "none found"."""
    facts = gpu_facts()
    return facts.describe() if facts else "none found"


def module_version(module: str) -> str:
    """An importable module's version; "not installed", or "broken (...)" when importing it fails otherwise."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # a broken install (e.g. pycuda without a driver) is reported, not raised
        return "not installed" if isinstance(exc, ImportError) else f"broken ({type(exc).__name__}: {exc})"
    return str(getattr(mod, "__version__", getattr(mod, "VERSION", "installed")))


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("edgesr", "numpy", "onnxruntime", "onnxruntime-gpu", "torch", "tensorrt", "pycuda"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    if "tensorrt" not in out:  # JetPack installs TensorRT as a system package without pip metadata
        try:
            import tensorrt  # type: ignore[import-not-found]

            out["tensorrt"] = str(tensorrt.__version__)
        except Exception:
            pass
    return out


def describe_machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    board = jetson()
    gpu = gpus()
    if not gpu and board is not None:
        gpu = [f"{board['model']} integrated GPU"]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory_gib(),
        "gpu": gpu or None,
        "jetson": board,
        "os": platform.platform(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "versions": versions(),
    }


def machine_line(m: dict[str, Any]) -> str:
    """One line for table titles and benchmark headers."""
    parts = [f"{m['cpu']} ({m['usable_cores']} of {m['cores']} cores usable)"]
    if m.get("memory_gib"):
        parts.append(f"{m['memory_gib']} GiB")
    parts.append("GPU: " + "; ".join(m["gpu"]) if m.get("gpu") else "no GPU")
    if m.get("jetson"):
        parts.append(f"power mode: {m['jetson']['power_mode']}")
    if m.get("load_average_at_start"):
        parts.append(f"load {m['load_average_at_start'][0]:g}")
    return ", ".join(parts)

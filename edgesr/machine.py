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
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")  # the CPU-feature probes' input (tests point it at a file of their own)


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
    model = _read("/proc/device-tree/model")
    release = _read("/etc/nv_tegra_release")
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


def gpu_name() -> str:
    """The first GPU: pycuda's device 0 with its compute capability, else nvidia-smi's, else "none found"."""
    try:
        import pycuda.driver as cuda  # type: ignore[import-not-found]

        cuda.init()
        dev = cuda.Device(0)
        major, minor = dev.compute_capability()
        return f"{dev.name()} (compute {major}.{minor})"
    except Exception:
        pass
    out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    return out.splitlines()[0] if out else "none found"


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

"""``edgesr.machine``: the one place for machine facts; the CPU-feature probes read the file ``CPUINFO`` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesr import machine


def test_cpu_features_from_a_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo)
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx2 avx512_vnni amx_bf16\n")
    assert machine.cpu_has_vnni() is True and machine.cpu_has_native_bf16() and machine.cpu_model() == "Test CPU"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert machine.cpu_has_vnni() is False and not machine.cpu_has_native_bf16()
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd\n")  # ARM (a Jetson): no x86 flags line
    assert machine.cpu_has_vnni() is None and not machine.cpu_has_native_bf16()
    cpuinfo.unlink()
    assert machine.cpu_has_vnni() is None and not machine.cpu_has_native_bf16()


def test_describe_machine_has_every_field_and_one_line() -> None:
    m = machine.describe_machine()
    assert {"cpu", "cores", "usable_cores", "memory_gib", "gpu", "jetson", "os", "versions"} <= set(m)
    assert m["versions"]["python"] and m["usable_cores"] >= 1
    line = machine.machine_line(m)
    assert m["cpu"] in line and ("GPU:" in line or "no GPU" in line)
    assert machine.module_version("numpy") == __import__("numpy").__version__
    assert machine.module_version("no_such_module_here") == "not installed"

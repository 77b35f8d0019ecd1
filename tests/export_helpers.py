"""Helpers for the export/engine tests: a tiny trained-looking checkpoint and CLI calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edgesr.cli.main import main

# Small shapes keep calibration and the accuracy gate fast on 2 CPU cores.
SMALL_PROFILE = ["--min-shape", "16x16", "--opt-shape", "32x48", "--max-shape", "48x64"]


def tiny_checkpoint(path: Path, seed: int = 0, scale: int = 4) -> Path:
    """edge_xs with random weights and non-trivial BatchNorm statistics and PReLU slopes,
    so that folding BatchNorm and keeping distinct slopes are really exercised."""
    import torch
    from edgesr.train.arch import build_generator
    from edgesr.train.checkpoint import save_checkpoint

    from edgesr.spec import edge_xs

    torch.manual_seed(seed)
    model = build_generator(edge_xs(scale))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.05, 0.3)
    return save_checkpoint(path, {"spec": model.spec, "generator": model.state_dict(), "phase": "srresnet", "step": 0})


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@contextmanager
def session_cache(factory: pytest.TempPathFactory) -> Iterator[None]:
    """The per-session edgesr cache of conftest's autouse fixture, for module-scoped fixtures
    (which are set up before that function-scoped fixture applies)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESR_CACHE", str(factory.getbasetemp() / "edgesr-cache"))
        yield

"""Which TensorRT set-ups edgesr supports, and whether this machine is one (``edgesr.backends``' check).

edgesr needs Python >= 3.10. On a Jetson that is JetPack 6 (L4T R36: Python 3.10 with TensorRT 8.6.2 in 6.0 and
10.3 in 6.1/6.2). JetPack 5 (L4T R35) ships TensorRT 8.5 bindings for Python 3.8 only, which a Python 3.10 edgesr
cannot import: it is not supported. On a desktop: TensorRT 8.5 to 11.x (pip wheels, ``edgesr[trt]``) with pycuda
and an NVIDIA GPU. The runner's floor (8.5: the name-based I/O API) is ``trt_common.MIN_TENSORRT``.
"""

from __future__ import annotations

import re
import sys

from edgesr.errors import EdgeSRError
from edgesr.machine import TEGRA_RELEASE, jetson
from edgesr.runtime.trt_common import MIN_TENSORRT, import_tensorrt, open_gpu

MAX_TENSORRT_MAJOR = 11  # the newest major written against (binding sources 8.5 through 11.1)
WHY = "needed for the TensorRT backend: JetPack 6 ships it; or use --backend onnxruntime"
RANGE = f"TensorRT {MIN_TENSORRT[0]}.{MIN_TENSORRT[1]} to {MAX_TENSORRT_MAJOR}.x"  # the table's statement begins so


def l4t_major(release_line: str | None) -> int | None:
    """'# R36 (release), REVISION: 4.3, ...' -> 36."""
    m = re.search(r"\bR(\d+)\b", release_line or "")
    return int(m.group(1)) if m else None


def jetpack_statement() -> str | None:
    """On a Jetson: its JetPack and whether edgesr supports it, in one line; None elsewhere."""
    board = jetson()
    if board is None:
        return None
    try:
        line = TEGRA_RELEASE.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        line = ""
    major = l4t_major(line)
    if major is None:
        return f"{board['model']}: L4T release unknown ({TEGRA_RELEASE} unreadable); edgesr supports JetPack 6"
    if major < 36:
        jp = "JetPack 5" if major == 35 else "JetPack 4 or older"
        return (
            f"{jp} (L4T R{major}): not supported - its TensorRT bindings are for Python 3.8/3.6 and edgesr needs "
            f"Python >= 3.10 (this is {sys.version_info.major}.{sys.version_info.minor}): flash JetPack 6"
        )
    jp = "JetPack 6" if major == 36 else f"L4T R{major} (JetPack 7 or newer)"
    return f"{jp}: supported ({RANGE})"


def require_usable() -> None:
    """Raise a one-line ``EdgeSRError`` unless TensorRT imports, is a supported version, and pycuda sees a GPU."""
    trt = import_tensorrt(WHY)  # missing, or older than 8.5: one line
    version = str(trt.__version__)
    if int(version.split(".")[0]) > MAX_TENSORRT_MAJOR:
        raise EdgeSRError(
            f"TensorRT {version} is newer than edgesr supports ({RANGE}): "
            "pip install 'edgesr[trt]' for a supported one, or use --backend onnxruntime"
        )
    open_gpu(WHY)

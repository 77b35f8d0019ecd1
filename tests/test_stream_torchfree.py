"""Must-show 5: the runtime imports and streams with torch made unimportable (as on a Jetson without it)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import tinymodel

BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith(("torch.", "torchvision")):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, _NoTorch())
try:
    import torch  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the blocker does not work")
"""


def test_stream_runs_with_torch_unimportable(tmp_path: Path) -> None:
    video = tinymodel.write_video(tmp_path / "in.mp4", tinymodel.test_frames(12, 24, 32), audio=True)
    model = tinymodel.tiny_onnx(tmp_path / "m.onnx")
    fp16 = tinymodel.tiny_onnx(tmp_path / "fp16.onnx", fp16_weights=True)
    engine = tinymodel.ort_engine(tmp_path / "e" / "m.engine", fp16, reference=model, precision="fp16")
    code = BLOCK_TORCH + textwrap.dedent(f"""
        import edgesr.runtime, edgesr.runtime.trt_runner, edgesr.runtime.live, edgesr.runtime.stream
        from edgesr.cli.main import main
        try:
            main(["stream", "--engine", {str(engine)!r}, "--video", {str(video)!r}, "-o", {str(tmp_path / "o.mp4")!r},
                  "--check-every", "4", "--side-by-side", "--tile", "16", "--tile-overlap", "4", "-q"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")]
        assert not [m for m in sys.modules if m.startswith(("edgesr.train", "edgesr.export"))]
        print("TORCH-FREE OK")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TORCH-FREE OK" in out.stdout
    report = json.loads((tmp_path / "o.report.json").read_text())
    assert report["frames_out"] == 12 and report["psnr"]["checks"] == 3
    assert report["tiles_per_frame"] == 6  # 2 x 3 tiles of 16x16

"""Issue 9, class 4: two ``stream`` runs writing the same ``-o`` at once. Each encodes its own partial file
(pid + random) and renames it atomically: the final file is one run's complete video, never a mix, no partial
file is left, and the report of the run whose file won describes exactly that file (frames and sha256)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tinymodel

from edgesr.artifact import sha256_file
from edgesr.spec import edge_xs

pytestmark = pytest.mark.slow


def test_two_streams_to_one_output(tmp_path: Path) -> None:
    import av

    model = tinymodel.srresnet_onnx(tmp_path / "xs.onnx", edge_xs(4))
    videos = [
        tinymodel.write_video(tmp_path / f"in{n}.mp4", tinymodel.test_frames(n, 16, 16, seed=n), audio=False)
        for n in (40, 70)
    ]
    out = tmp_path / "out.mp4"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edgesr", "stream", "--engine", str(model), "--video", str(v), "-o", str(out),
             "--report", str(tmp_path / f"report{i}.json"), "-q", "--check-every", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i, v in enumerate(videos)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert not [f.name for f in tmp_path.iterdir() if ".partial" in f.name]
    reports = [json.loads((tmp_path / f"report{i}.json").read_text()) for i in range(2)]
    assert [r["frames_out"] for r in reports] == [40, 70]
    digest = sha256_file(out)
    owners = [r for r in reports if r["output_sha256"] == digest]
    assert len(owners) == 1  # the file at -o is exactly one run's file, as that run's report says
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == owners[0]["frames_out"]

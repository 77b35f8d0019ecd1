"""A real Triton Inference Server (NVIDIA PyTriton, in its own venv: tests/triton_env.py) hosting an edgesr
engine through `edgesr serve`, and `edgesr stream --engine triton://` going through real Triton gRPC end to
end: the frames equal a local stream's, concurrent clients are batched by Triton's dynamic batcher, a server
that restarts mid-stream is retried, one that stays away ends the run with its reason, and a model edgesr
cannot describe is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from edgesr.artifact import ShapeProfile

import tinymodel
from triton_env import free_port, pytriton_venv

pytestmark = pytest.mark.slow
pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] (dev extra) not installed")
EDGESR = [sys.executable, "-m", "edgesr"]
PLAIN_MODEL = """
import numpy as np, sys
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig
@batch
def infer(images):
    return {"boxes": images[:, :1]}
with Triton(config=TritonConfig(grpc_port=int(sys.argv[1]), http_port=int(sys.argv[2]), allow_metrics=False,
                                grpc_address="127.0.0.1", http_address="127.0.0.1")) as t:
    t.bind("detector", infer, [Tensor(name="images", dtype=np.float32, shape=(3, -1, -1))],
           [Tensor(name="boxes", dtype=np.float32, shape=(1, -1, -1))], config=ModelConfig(max_batch_size=2))
    t.serve()
"""


def _wait_ready(port: int, model: str, proc: subprocess.Popen[str], log: Path, timeout: float = 180) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"the Triton server exited {proc.returncode}: {log.read_text()[-1500:]}")
        try:
            if client.is_model_ready(model):
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"Triton did not get {model} ready in {timeout:.0f} s")


@contextmanager
def running(cmd: list[str], port: int, model: str, log: Path) -> Iterator[subprocess.Popen[str]]:
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_ready(port, model, proc, log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture(scope="module")
def venv() -> Path:
    return pytriton_venv()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX Runtime engine of a tiny x4 model taking batches of up to 4, its FP32 reference beside it."""
    tmp = tmp_path_factory.mktemp("triton-engine")
    fp32 = tinymodel.tiny_onnx(tmp / "tiny.onnx", channels=16)
    return tinymodel.ort_engine(tmp / "sr.onnx", fp32, reference=fp32,
                                profile=ShapeProfile((8, 8), (48, 64), (256, 256), max_batch=4))


def serve_cmd(venv: Path, engine: Path, grpc: int, http: int) -> list[str]:
    return [str(venv / "bin" / "edgesr"), "serve", "--engine", str(engine), "--port", str(grpc), "--http-port",
            str(http), "--threads", "1", "--queue-delay-us", "20000"]


def stream(engine: str, clip: Path, out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    local = [] if engine.startswith("triton") else ["--threads", "1"]
    return subprocess.run([*EDGESR, "stream", "--engine", engine, "--video", str(clip), "-o", str(out), "-q", *local,
                           *more], capture_output=True, text=True)


def wait_streaming(folder: Path, run: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the stream has its engine open and writes its video (the sink opens after the engine)."""
    end = time.monotonic() + timeout
    while not list(folder.glob("*.partial-*")):
        assert run.poll() is None and time.monotonic() < end, "the stream ended or stalled before it began"
        time.sleep(0.1)
    time.sleep(0.5)


def decode(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_stream_through_triton_equals_the_local_engine(venv: Path, engine: Path, tmp_path: Path) -> None:
    clip = tinymodel.write_video(tmp_path / "odd.mp4", tinymodel.test_frames(12, 46, 62), audio=False)
    grpc, http = free_port(), free_port()
    with running(serve_cmd(venv, engine, grpc, http), grpc, "edgesr", tmp_path / "serve.log"):
        remote = stream(f"triton://127.0.0.1:{grpc}/edgesr", clip, tmp_path / "remote.mp4",
                        "--reference", str(engine.with_name("sr.fp32.onnx")), "--check-every", "4")
        over_http = stream(f"triton+http://127.0.0.1:{http}/edgesr", clip, tmp_path / "http.mp4")
        bench = subprocess.run([*EDGESR, "bench", "--model", str(engine.with_name("sr.fp32.onnx")), "--engine",
                                f"triton://127.0.0.1:{grpc}/edgesr", "--backends", "onnxruntime", "--precisions",
                                "fp32", "--sizes", "48x64", "--runs", "2", "--warmup", "0", "-o", str(tmp_path / "b")],
                               capture_output=True, text=True)
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert over_http.returncode == 0, over_http.stderr[-2000:]
    local = stream(str(engine), clip, tmp_path / "local.mp4", "--check-every", "0")
    assert local.returncode == 0, local.stderr[-2000:]
    report = json.loads((tmp_path / "remote.report.json").read_text())
    assert report["engine"] == f"triton://127.0.0.1:{grpc}/edgesr"
    assert report["frames_in"] == report["frames_out"] == 12 and report["dropped"] == 0
    assert report["psnr"]["checks"] == 3 and report["psnr"]["worst_db"] == "inf"
    frames = decode(tmp_path / "remote.mp4")
    assert frames.shape == (12, 184, 248, 3)
    assert np.array_equal(frames, decode(tmp_path / "local.mp4"))
    assert np.array_equal(frames, decode(tmp_path / "http.mp4"))
    assert bench.returncode == 0, bench.stderr[-2000:]
    rows = {(r["backend"], r["precision"], r["variant"]): r
            for r in json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]}
    triton_row = rows[("triton", "fp32", "given")]
    assert triton_row["psnr_vs_fp32_db"] == rows[("onnxruntime", "fp32", "")]["psnr_vs_fp32_db"]
    assert "served" in (tmp_path / "serve.log").read_text()


def test_concurrent_clients_are_batched_by_triton(venv: Path, engine: Path, tmp_path: Path) -> None:
    from edgesr.runtime import open_runner

    grpc, http = free_port(), free_port()
    x = np.random.default_rng(0).random((1, 3, 48, 64), dtype=np.float32)
    with running(serve_cmd(venv, engine, grpc, http), grpc, "edgesr", tmp_path / "serve.log") as proc:
        runners = [open_runner(f"triton://127.0.0.1:{grpc}/edgesr") for _ in range(4)]
        outputs: list[np.ndarray] = []

        def client(r) -> None:  # type: ignore[no-untyped-def]
            for _ in range(6):
                outputs.append(r.infer(x))

        threads = [threading.Thread(target=client, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in runners:
            r.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert len(outputs) == 24 and all(np.array_equal(o, outputs[0]) for o in outputs)
    line = next(ln for ln in (tmp_path / "serve.log").read_text().splitlines() if "served 24 frames" in ln)
    calls = int(line.split(" in ")[1].split()[0])
    assert calls < 24, f"Triton's dynamic batcher formed no batch: {line}"


def test_a_server_restart_mid_stream_is_retried_and_one_that_stays_away_ends_the_run(
    venv: Path, engine: Path, tmp_path: Path
) -> None:
    clip = tinymodel.write_video(tmp_path / "c.mp4", tinymodel.test_frames(90, 48, 64), audio=False)
    grpc, http = free_port(), free_port()
    uri = f"triton://127.0.0.1:{grpc}/edgesr"
    with running(serve_cmd(venv, engine, grpc, http), grpc, "edgesr", tmp_path / "a.log") as first:
        run = subprocess.Popen([*EDGESR, "stream", "--engine", uri, "--video", str(clip), "-o",
                                str(tmp_path / "o.mp4"), "-q", "--realtime", "--reconnect", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_streaming(tmp_path, run)
        first.send_signal(signal.SIGTERM)  # mid-stream: the 90-frame clip at 30 fps takes 3 s
        first.wait(timeout=60)
    with running(serve_cmd(venv, engine, grpc, http), grpc, "edgesr", tmp_path / "b.log"):
        out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-2000:]
    report = json.loads((tmp_path / "o.report.json").read_text())
    assert report["frames_in"] == report["frames_out"] == 90, report
    assert any(f"{uri} back after" in w for w in report["warnings"]), report["warnings"]
    assert "served 0 frames" not in (tmp_path / "b.log").read_text(), "the restarted server took over"
    with running(serve_cmd(venv, engine, grpc, http), grpc, "edgesr", tmp_path / "c.log") as third:
        run = subprocess.Popen([*EDGESR, "stream", "--engine", uri, "--video", str(clip), "-o",
                                str(tmp_path / "g.mp4"), "-q", "--realtime", "--reconnect", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_streaming(tmp_path, run)
        third.send_signal(signal.SIGTERM)
        third.wait(timeout=60)
        out, err = run.communicate(timeout=120)
    assert run.returncode == 1 and "lost: no answer for 2 s" in err and len(err.strip().splitlines()) == 1, err
    gone = json.loads((tmp_path / "g.report.json").read_text())
    assert 0 < gone["frames_out"] < 90 and "lost" in gone["end_reason"]
    assert (tmp_path / "g.mp4").stat().st_size > 0, "what was streamed before the server went away is kept"
    refused = subprocess.run([*EDGESR, "stream", "--engine", uri, "--video", str(clip), "-o", str(tmp_path / "n.mp4")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and refused.stderr.startswith("error: cannot reach Triton"), refused.stderr


def test_a_model_edgesr_cannot_describe_is_refused(venv: Path, tmp_path: Path) -> None:
    grpc, http = free_port(), free_port()
    cmd = [str(venv / "bin" / "python"), "-c", PLAIN_MODEL, str(grpc), str(http)]
    clip = tinymodel.write_video(tmp_path / "c.mp4", tinymodel.test_frames(2, 24, 32), audio=False)
    with running(cmd, grpc, "detector", tmp_path / "plain.log"):
        out = subprocess.run([*EDGESR, "stream", "--engine", f"triton://127.0.0.1:{grpc}/detector", "--video",
                              str(clip), "-o", str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert out.returncode == 1
    assert "carries no edgesr model spec" in out.stderr and len(out.stderr.strip().splitlines()) == 1

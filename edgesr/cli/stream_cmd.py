"""``edgesr stream``: upscale a camera, stream, video file or image folder through an engine, live."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from edgesr.cli.ui import db
from edgesr.backends import remote
from edgesr.errors import UsageError
from edgesr.redact import redact
from edgesr.options import MIN_SIDE, MIN_TILE, SCALES, choice, number, shape
from edgesr.paths import input_file, output_dir, output_file

# The kinds are runtime.uris' tables (the CLI imports runtime lazily; a test keeps these lines in step).
SOURCE_HELP = (
    "Source URI: /dev/video0 (or 0, v4l2:///dev/video0), csi://0, a network stream (rtsp://, rtsps://, "
    "rtmp://, http://, https://, udp://), a video file (clip.mp4, file://clip.mp4), a folder of images, or a "
    "GStreamer pipeline ending in appsink."
)
OUTPUT_HELP = (
    "out.mp4 (H.264; .mov, .mkv, file://out.mp4), a folder (PNGs), display (display://0), none, "
    "rtsp://:8554/sr (RTSP server) or http://:8080 (live view page); repeat to fan out. Default: display if any."
)


def _hw(text: str | None, option: str, minimum: int) -> tuple[int, int] | None:
    """'256' -> (256, 256); '180x320' -> (180, 320); None -> None."""
    return None if text is None else shape(text, option, minimum, square_ok=True)


def _check_numbers(check_every: int, min_psnr: float | None, fail_below: float | None, tile_overlap: int,
                   max_frames: int | None, threads: int | None, scale: int | None, reconnect: float,
                   capture_fps: int | None) -> None:
    number(check_every, "--check-every (0: never)", 0, 1_000_000)
    number(min_psnr, "--min-psnr (dB)", 0, 200)
    number(fail_below, "--fail-below (dB)", 0, 200)
    number(tile_overlap, "--tile-overlap", 0, 1024)
    number(max_frames, "--max-frames", 1)
    number(threads, "--threads", 1, 1024)
    choice(scale, "--scale", SCALES)
    number(reconnect, "--reconnect (seconds)", 0, 86_400)
    number(capture_fps, "--capture-fps", 1, 1000)


def _check_paths(outputs: list[str], report: Path | None, inputs: tuple[str | Path | None, ...]) -> None:
    from edgesr.runtime.uris import classify_output

    written: list[Path] = []  # files the run writes: never an input, and never the report
    for ref in map(classify_output, outputs):
        if ref.kind.writes == "file" and ref.path is not None:
            written.append(output_file(ref.path, "--output", inputs=inputs))
        elif ref.kind.writes == "folder" and ref.path is not None:
            output_dir(ref.path, "--output", inputs=inputs)
    if report is not None:
        output_file(report, "--report", inputs=(*inputs, *written))


def _expanded(outputs: list[str], uris: list[str], names: list[str] | None = None) -> list[str]:
    """Several sources: every output template ({i}, {name}) written out per stream."""
    if len(uris) == 1 and names is None:
        return outputs
    from edgesr.runtime.stream_multi import expand, stream_name

    out: list[str] = []
    for o in outputs:
        each = [expand(o, i, (names[i] if names else "") or stream_name(u)) for i, u in enumerate(uris)]
        out.extend([o] if each[0] is None else [e for e in each if e is not None])
    return out


def stream(
    engine: str | None = typer.Option(
        None, "--engine", "-e",
        help="Engine (with its .json sidecar), edgesr ONNX, a Triton model triton://HOST:PORT/NAME, or a shipped "
        "model name: edge_s (clean input; default) or edge_s_camera (cameras, H.264 streams: noise, blur, "
        "compression). See `edgesr models`.",
    ),
    camera: list[str] | None = typer.Option(
        None, "--camera", metavar="CAMERA", help="Camera index or device, e.g. 0 or /dev/video0; repeat for several."
    ),
    video: list[Path] | None = typer.Option(
        None, "--video", metavar="PATH", help="Video file (every frame, in order); repeatable."
    ),
    source: list[str] | None = typer.Option(
        None, "--source", metavar="URI", help=SOURCE_HELP + " Repeat for several streams through one engine (batched)."
    ),
    batch_timeout: float | None = typer.Option(
        None, "--batch-timeout", help="Several sources: ms a batch waits for frames of the other streams [10]."
    ),
    streams: Path | None = typer.Option(
        None, "--streams", help="TOML file: the sources, their outputs and per-stream options."
    ),
    output: list[str] | None = typer.Option(
        None, "--output", "-o",
        help=OUTPUT_HELP,
    ),
    listen: str | None = typer.Option(
        None, help="Bind address of rtsp:// and http:// outputs given without a host. Default: 127.0.0.1 only."
    ),
    auth: str | None = typer.Option(
        None, "--auth", help="USER:PASSWORD required by rtsp:// and http:// outputs (or --auth-file, $EDGESR_AUTH)."
    ),
    auth_file: Path | None = typer.Option(None, "--auth-file", help="File of user:password lines for --auth."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve beyond loopback with no password (refused otherwise)."
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate: the live view over HTTPS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    max_clients: int = typer.Option(32, "--max-clients", help="Concurrent clients per network output."),
    allow_host: list[str] | None = typer.Option(
        None, "--allow-host", help="A DNS name the live view answers to besides its addresses (repeatable)."
    ),
    realtime: bool = typer.Option(
        False, "--realtime", help="Read a video file at its own frame rate, as a camera would (for serving it)."
    ),
    check_every: int = typer.Option(30, help="Compare every N-th frame with the FP32 reference (0: never)."),
    min_psnr: float | None = typer.Option(None, help="Warn on every check below this PSNR (dB)."),
    fail_below: float | None = typer.Option(
        None, help="End the run (exit 3) when the mean check PSNR falls below this (dB)."
    ),
    reference: Path | None = typer.Option(None, help="FP32 ONNX for the checks. Default: the engine's sidecar."),
    tile: str | None = typer.Option(None, help="Process frames in LR tiles of this size (256 or 256x384)."),
    tile_overlap: int = typer.Option(16, help="Tile overlap in LR pixels."),
    max_frames: int | None = typer.Option(None, help="Stop after this many input frames."),
    report: Path | None = typer.Option(None, help="JSON report path. Default: beside the output file/folder."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write bicubic | SR side by side (demos)."),
    providers: str | None = typer.Option(
        None, help="ONNX Runtime providers in order, e.g. tensorrt,cuda,cpu. Default: cuda,cpu as available."
    ),
    threads: int | None = typer.Option(None, help="ONNX Runtime intra-op threads (CPU provider)."),
    scale: int | None = typer.Option(None, help="Refuse an engine of another scale."),
    reconnect: float = typer.Option(10.0, help="Seconds to keep retrying a lost camera/stream before ending."),
    capture_size: str | None = typer.Option(None, help="Camera capture size HxW (CSI default 720x1280)."),
    capture_fps: int | None = typer.Option(None, help="Camera capture rate (CSI default 30)."),
    fragmented: bool | None = typer.Option(
        None, "--fragmented/--no-fragmented",
        help="Fragmented .mp4 (flat memory, playable after a power cut). Default: on for live sources.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live statistics."),
) -> None:
    """Upscale frames through an engine live, with PSNR checks against the FP32 model and a JSON report.

    Which model: --engine edge_s (default) for clean input (downscaled video, renders, screen captures);
    --engine edge_s_camera for camera sensors and H.264/RTSP streams (noise, blur, compression). `edgesr models`.
    """
    from edgesr.runtime.auth import load_credentials
    from edgesr.runtime.check import CheckConfig
    from edgesr.runtime.pipeline import PipelineConfig
    from edgesr.runtime.serve_policy import ServePolicy
    from edgesr.runtime.sources import LiveOptions, camera_uri
    from edgesr.runtime.stream import StreamSettings, run_stream
    from edgesr.runtime.tiling import TileConfig
    from edgesr.runtime.uris import classify_source

    given = [(flag, v) for flag, v in (("--camera", camera), ("--video", video), ("--source", source)) if v]
    file = None
    if streams is not None:
        from edgesr.runtime.streams_file import read_streams

        if given:
            raise UsageError(f"--streams {streams} names the sources: drop {', '.join(f for f, _ in given)}")
        file = read_streams(input_file(streams, "--streams"))
        if batch_timeout is not None and file.batch_timeout_ms not in (None, batch_timeout):
            raise UsageError(f"--batch-timeout {batch_timeout:g} and {streams}'s batch_timeout_ms "
                             f"{file.batch_timeout_ms:g} differ: give one")
        batch_timeout = batch_timeout if batch_timeout is not None else file.batch_timeout_ms
        given = [("--streams", [sp.source for sp in file.streams])]
    if len(given) != 1:
        names = ", ".join(f for f, _ in given) if given else "none"
        raise UsageError(f"give exactly one of --camera, --video, --source, each repeatable (got {names})")
    flag, values = given[0]
    uris = [camera_uri(str(v)) if flag == "--camera" else str(v) for v in values]
    for uri in uris:
        if flag == "--video" and Path(uri).is_dir():
            raise UsageError(f"--video {uri} is a folder: use --source for a folder of images")
    refs = [classify_source(uri) for uri in uris]
    batch_timeout = 10.0 if batch_timeout is None else batch_timeout
    live = [uri for uri, ref in zip(uris, refs, strict=True) if ref.live]
    if realtime and live:
        raise UsageError(f"--realtime is for video files: {redact(live[0])} is live, its device sets the pace")
    number(batch_timeout, "--batch-timeout (ms)", 0, 10_000)
    if not output and file is not None:
        output = [""]  # the file's outputs
    if not output:
        if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UsageError("no --output given and no display here: pass --output out.mp4, --output DIR or none")
        output = ["display"]
    _check_numbers(check_every, min_psnr, fail_below, tile_overlap, max_frames, threads, scale, reconnect, capture_fps)
    tile_hw = _hw(tile, "--tile", MIN_TILE)
    if tile_hw is not None and tile_overlap * 2 >= min(tile_hw):
        raise UsageError(f"--tile-overlap {tile_overlap} must be less than half of --tile {tile}")
    size_hw = _hw(capture_size, "--capture-size", MIN_SIDE)
    from edgesr.zoo import resolve

    engine_path = None if remote(engine) else resolve(engine, "onnx", "--engine")
    stream_names = [sp.name or "" for sp in file.streams] if file is not None else None
    extra = [o for sp in file.streams for o in sp.outputs] if file is not None else []
    every = [o for o in (*(file.outputs if file else ()), *output) if o]
    _check_paths(_expanded(every, uris, stream_names) + extra, report, (*(r.path for r in refs), engine_path, reference))
    settings = StreamSettings(
        engine=engine_path if engine_path is not None else str(engine),  # a triton:// address stays a string
        source=uris[0],
        more_sources=tuple(uris[1:]),
        batch_timeout_ms=batch_timeout,
        streams_file=file,
        output=output[0],
        more_outputs=tuple(output[1:]),
        listen=listen,
        realtime=realtime,
        report=report,
        reference=reference,
        check=CheckConfig(every=check_every, min_psnr=min_psnr, fail_below=fail_below),
        tile=TileConfig(tile=tile_hw, overlap=tile_overlap),
        pipeline=PipelineConfig(max_frames=max_frames, side_by_side=side_by_side),
        live=LiveOptions(reconnect_s=reconnect, size=size_hw, fps=capture_fps),
        providers=[p.strip() for p in providers.split(",") if p.strip()] if providers else None,
        threads=threads,
        expect_scale=scale,
        quiet=quiet,
        fragmented_mp4=fragmented,
        serve=ServePolicy(load_credentials(auth, auth_file), insecure_no_auth, tls_cert, tls_key, max_clients,
                          tuple(allow_host or ())),
    )
    try:
        result = run_stream(settings)
    except KeyboardInterrupt:  # before the pipeline started (loading the engine, opening the camera)
        typer.echo("interrupted before the stream started: nothing was written", err=True)
        raise typer.Exit(130) from None
    lat = result.latency_ms["infer"]
    summary = (
        f"{result.frames_out} of {result.frames_in} frames -> {result.output_description} "
        f"({result.fps:.2f} fps, infer p50 {lat['p50']} ms; dropped {result.dropped}, "
        f"skipped {result.skipped}); ended: {result.end_reason}"
    )
    psnr = result.psnr
    if psnr["checks"]:
        mean, worst = db(psnr["mean_db"]), db(psnr["worst_db"])
        summary += f"; PSNR vs FP32 mean {mean}, worst {worst} over {psnr['checks']} checks"
    typer.echo(summary)
    for i, st in enumerate(result.streams or []):
        typer.echo(f"  [{i}] {st['name']}: {st['frames_out']} of {st['frames_in']} frames -> "
                   f"{', '.join(st['output']) or 'shared outputs'}; ended: {st['ended']}")
    if result.batches is not None:
        typer.echo(f"batches: {result.batches['calls']} engine calls, {result.batches['mean']} frames on average, "
                   f"max {result.batches['max']}")
    if result.report_path is not None:
        typer.echo(f"report: {result.report_path}")
    if result.end_reason.startswith("interrupted"):
        raise typer.Exit(130)

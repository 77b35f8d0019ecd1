"""``edgesr stream``: upscale a camera, stream, video file or image folder through an engine, live."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from edgesr.cli.ui import db
from edgesr.errors import UsageError
from edgesr.options import MIN_SIDE, MIN_TILE, SCALES, choice, number, shape
from edgesr.paths import output_dir, output_file

SOURCE_HELP = (
    "Source URI: /dev/video0, csi://0, rtsp://..., a video file, a folder of images, or a GStreamer "
    "pipeline ending in appsink."
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
    from edgesr.runtime.outputs import network_scheme
    from edgesr.runtime.sinks import output_kind

    written: list[str] = []  # files the run writes: never an input, and never the report
    for output in outputs:
        if network_scheme(output):
            continue
        kind = output_kind(output)
        if kind == "video":
            output_file(output, "--output", inputs=inputs)
            written.append(output)
        elif kind == "folder":
            output_dir(output, "--output", inputs=inputs)
    if report is not None:
        output_file(report, "--report", inputs=(*inputs, *written))


def stream(
    engine: Path | None = typer.Option(
        None, "--engine", "-e",
        help="Engine (with its .json sidecar), edgesr ONNX, or a shipped model name: edge_s (clean input; default) "
        "or edge_s_camera (cameras, H.264 streams: noise, blur, compression). See `edgesr models`."
    ),
    camera: str | None = typer.Option(None, "--camera", help="Camera index or device, e.g. 0 or /dev/video0."),
    video: Path | None = typer.Option(None, "--video", help="Video file (every frame, in order)."),
    source: str | None = typer.Option(None, "--source", help=SOURCE_HELP),
    output: list[str] | None = typer.Option(
        None, "--output", "-o",
        help="out.mp4 (H.264), a folder (PNGs), display, none, rtsp://:8554/sr (RTSP server) or http://:8080 "
        "(live view page); repeat to fan out. Default: display if any.",
    ),
    listen: str | None = typer.Option(
        None, help="Bind address of rtsp:// and http:// outputs given without a host. Default: 127.0.0.1 only."
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
    from edgesr.runtime.check import CheckConfig
    from edgesr.runtime.pipeline import PipelineConfig
    from edgesr.runtime.sources import LiveOptions, camera_uri
    from edgesr.runtime.stream import StreamSettings, run_stream
    from edgesr.runtime.tiling import TileConfig

    given = [(flag, v) for flag, v in (("--camera", camera), ("--video", video), ("--source", source)) if v is not None]
    if len(given) != 1:
        names = ", ".join(f for f, _ in given) if given else "none"
        raise UsageError(f"give exactly one of --camera, --video, --source (got {names})")
    flag, value = given[0]
    uri = camera_uri(str(value)) if flag == "--camera" else str(value)
    if flag == "--video" and Path(uri).is_dir():
        raise UsageError(f"--video {uri} is a folder: use --source for a folder of images")
    if realtime and (flag == "--camera" or "://" in uri or "!" in uri):
        raise UsageError(f"--realtime is for video files: {uri} is live, its device sets the pace")
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

    engine = resolve(engine, "onnx", "--engine")
    source_path = uri if flag != "--camera" and "://" not in uri else None
    _check_paths(output, report, (source_path, engine, reference))
    settings = StreamSettings(
        engine=engine,
        source=uri,
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
    if result.report_path is not None:
        typer.echo(f"report: {result.report_path}")
    if result.end_reason.startswith("interrupted"):
        raise typer.Exit(130)

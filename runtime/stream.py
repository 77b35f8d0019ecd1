"""``edgesr stream`` as a function: open everything (checking all of it before the first frame), run the
pipeline, and on EVERY exit path finalise the output and write the JSON report.

Order of opening (cheap checks first, so a typo never waits for an engine to load): output path ->
engine -> FP32 reference -> tiling plan -> source -> sink. Order of closing: pipeline threads ->
reference check (the last check finishes) -> sink (the video is finalised, then renamed) -> source ->
engine.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgesr import __version__, interrupts
from edgesr.errors import BadInputError, EdgeSRError, IncompatibleArtifactError, UsageError
from edgesr.paths import writable_place
from edgesr.redact import redact
from edgesr.runtime.check import CheckConfig, ReferenceCheck
from edgesr.runtime.outputs import LiveContext, check_outputs, default_report_path, open_outputs
from edgesr.runtime.pacing import PacedSource
from edgesr.runtime.pipeline import Pipeline, PipelineConfig
from edgesr.runtime.runner import Runner, open_runner
from edgesr.runtime.serve_policy import ServePolicy, check_serving
from edgesr.runtime.sources import LiveOptions, open_source
from edgesr.runtime.stats import StreamStats
from edgesr.runtime.status import StatusView
from edgesr.runtime.stream_report import StreamReport, raise_error, write_report
from edgesr.runtime.streams_file import StreamsFile
from edgesr.runtime.tiling import TileConfig, Tiler
from edgesr.runtime.uris import OutputContext, classify_source

END_OF_INPUT = "end of input"


@dataclass(frozen=True)
class StreamSettings:
    engine: Path | str  # a str: a triton:// address
    source: str
    more_sources: tuple[str, ...] = ()  # further --source: one runner, frames batched (runtime.stream_multi)
    names: tuple[str, ...] = ()  # a name per source ({name} in output templates); default from the URI
    batch_timeout_ms: float = 10.0  # how long a batch waits for frames of other streams
    streams_file: StreamsFile | None = None  # --streams: the sources, their outputs and options (then source="")
    output: str = "none"
    more_outputs: tuple[str, ...] = ()  # further -o: all get every frame (FanOutSink)
    listen: str | None = None  # bind address of rtsp:// and http:// outputs without a host (127.0.0.1)
    realtime: bool = False  # read a video file at its own frame rate, as a camera delivers
    report: Path | None = None  # None: beside a file/folder output, not written for none/display
    reference: Path | None = None  # None: the sidecar's reference_onnx
    check: CheckConfig = field(default_factory=CheckConfig)
    tile: TileConfig = field(default_factory=TileConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    live: LiveOptions = field(default_factory=LiveOptions)
    providers: list[str] | None = None
    threads: int | None = None
    expect_scale: int | None = None
    quiet: bool = False
    fragmented_mp4: bool | None = None  # None: fragmented for live sources (endless runs), plain for files
    progress: Callable[[StreamStats], None] | None = None  # called ~4x a second from the main thread
    serve: ServePolicy = field(default_factory=ServePolicy)  # auth, TLS, client limits of rtsp:// and http://


def open_reference(settings: StreamSettings, runner: Runner) -> tuple[Runner | None, str]:
    """The FP32 reference for PSNR checks, or (None, why there is none)."""
    cfg = settings.check
    gated = cfg.min_psnr is not None or cfg.fail_below is not None
    if cfg.every < 0:
        raise UsageError(f"--check-every must be >= 0, got {cfg.every}")
    if cfg.every == 0:
        if gated:
            raise UsageError("--min-psnr/--fail-below need checks: drop --check-every 0")
        return None, "checks off (--check-every 0)"
    path = settings.reference
    sidecar = getattr(runner, "sidecar", None)
    if path is None and sidecar is not None and sidecar.reference_onnx:
        path = runner.path.parent / sidecar.reference_onnx
        if not path.is_file():
            raise BadInputError(
                f"the engine's FP32 reference {path} (from its sidecar) is missing: pass --reference fp32.onnx "
                "or --check-every 0"
            )
    if path is None:
        if gated:
            raise UsageError(
                f"--min-psnr/--fail-below need an FP32 reference: {runner.path.name} names none, pass --reference"
            )
        why = "the engine is the FP32 model itself" if runner.precision == "fp32" else "no FP32 reference found"
        return None, f"checks off ({why}; pass --reference fp32.onnx to check)"
    ref = open_runner(path, threads=1, expect_scale=runner.spec.scale)
    if ref.precision != "fp32":
        ref.close()
        raise IncompatibleArtifactError(f"reference {path.name} is {ref.precision}, not the FP32 model")
    if ref.spec != runner.spec:
        ref.close()
        raise IncompatibleArtifactError(
            f"reference {path.name} is {ref.spec.describe()}, but the engine is {runner.spec.describe()}"
        )
    return ref, f"every {cfg.every} frames against {path}"


@contextlib.contextmanager
def stop_on_signals(pipeline: Pipeline) -> Iterator[None]:
    """First Ctrl-C / SIGTERM: stop reading and finish the queued frames; second: drop them. Either way
    the output is finalised and the report written (no KeyboardInterrupt flies through cleanup code)."""
    def name(signum: int) -> str:
        return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name

    with interrupts.graceful(
        lambda signum: pipeline.request_stop(f"interrupted ({name(signum)})"),
        lambda signum: pipeline.abort(f"interrupted ({name(signum)} twice: queued frames dropped)"),
    ):
        yield


def _say(line: str) -> None:
    """Where the stream serves (RTSP, live view): always said, even with --quiet."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_stream(settings: StreamSettings) -> StreamReport:
    """Run a stream to its end; returns the report (also written to the report path). Raises the error
    that ended the run, if any, AFTER the output is finalised and the report written."""
    if settings.more_sources or settings.streams_file is not None:
        from edgesr.runtime.stream_multi import run_multi

        return run_multi(settings, open_reference, _say, stop_on_signals)
    outputs = [settings.output, *settings.more_outputs]
    check_serving(outputs, settings.listen, settings.serve)  # exposure first: before GStreamer is even probed
    refs = check_outputs(outputs, settings.listen)
    if settings.realtime and classify_source(settings.source).live:
        raise UsageError(f"--realtime is for files: {redact(settings.source)} is live, its device sets the pace")
    report_path = settings.report if settings.report is not None else default_report_path(refs)
    if report_path is not None:
        writable_place(report_path.parent, "--report")
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    stats = StreamStats()
    report = StreamReport(__version__, started_at, redact(settings.source))
    error: BaseException | None = None
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(
            open_runner(settings.engine, providers=settings.providers, threads=settings.threads,
                        reconnect_s=settings.live.reconnect_s,
                        expect_scale=settings.expect_scale)
        )
        reference, check_note = open_reference(settings, runner)
        if reference is not None:
            stack.callback(reference.close)
        tiler = Tiler(runner, settings.tile)
        source = stack.enter_context(open_source(settings.source, settings.live))
        if settings.realtime:
            source = PacedSource(source)
        fragmented = source.live if settings.fragmented_mp4 is None else settings.fragmented_mp4
        live_context = LiveContext(
            stats, settings.check, f"{redact(source.uri)} -> {runner.describe()}", check_note, settings.serve
        )
        sink = open_outputs(
            refs, OutputContext(source.rate, source.audio_path, fragmented, settings.listen, live_context, _say)
        )
        report = replace(
            report,
            engine=runner.location, engine_description=runner.describe(), engine_accepts=runner.input_shape_range,
            output=settings.output if len(outputs) == 1 else outputs, output_description=sink.description,
            checks=check_note,
            check_every=settings.check.every, min_psnr=settings.check.min_psnr, fail_below=settings.check.fail_below,
        )
        view = StatusView(stats, f"edgesr stream: {redact(source.uri)} -> {sink.description}", quiet=settings.quiet)
        check = ReferenceCheck(reference, settings.check, stats.psnr, view.warn) if reference is not None else None
        pipeline = Pipeline(source, tiler, sink, stats, settings.pipeline, check, view.warn)

        def monitor() -> None:
            view.update()
            if settings.progress is not None:
                settings.progress(stats)

        stats.started = time.perf_counter()  # fps counts from the first frame read, not from engine loading
        try:
            with view, stop_on_signals(pipeline):
                reason = pipeline.run(monitor=monitor)
        finally:
            reason = pipeline.reason or END_OF_INPUT
            error = pipeline.error
            if error is None and reason == END_OF_INPUT and stats.frames_in == 0:
                error = BadInputError(f"{settings.source} has no frames: nothing was written")
            aborted = error is not None and not isinstance(error, EdgeSRError)
            closers = [
                ("reference check", lambda: check.close(wait=not aborted) if check is not None else None),
                ("output", lambda: sink.close(complete=reason == END_OF_INPUT and error is None)),
            ]
            for what, close in closers:
                try:
                    close()
                except Exception as exc:  # keep closing the rest; report the first failure
                    error = error or EdgeSRError(f"could not finalise the {what}: {exc}")
            for w in [*getattr(sink, "warnings", []), *getattr(runner, "warnings", [])]:
                view.warn(w)
            report.end_reason, report.error = redact(reason), None if error is None else redact(str(error))
            report.set_counts(stats.counts())
            served = {s.url: s.network for s in getattr(sink, "sinks", [sink]) if hasattr(s, "network")}
            report.network = served or None
            # two runs writing one -o: each report names the exact file it wrote
            report.output_sha256 = getattr(sink, "sha256", None) or None
            report.live = (
                {"reconnects": getattr(source, "reconnects", 0), "outages_s": getattr(source, "outages", [])}
                if source.live else None
            )
            error = write_report(report, report_path, error)
    raise_error(error)
    return report

"""``edgesr stream`` with several sources: one runner, one process, frames batched across streams
(``runtime.multistream``). Outputs are templates: ``{i}`` (0-based source index) and ``{name}`` (the
stream's name) make one output per stream (``out_{i}.mp4``); ``http://`` without a template is ONE live view
showing every stream in a grid; ``none`` is shared; ``rtsp://:8554/cam{i}`` is one RTSP server with a mount per
stream. Several sources into one file, folder, window or RTSP mount without a template is refused in one line.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgesr import __version__
from edgesr.backends import remote
from edgesr.errors import BadInputError, EdgeSRError, UsageError
from edgesr.paths import writable_place
from edgesr.redact import redact
from edgesr.runtime.check import ReferenceCheck
from edgesr.runtime.grid import GridSink, stream_label
from edgesr.runtime.multistream import BatchConfig, MultiPipeline, Stream
from edgesr.runtime.ort_runner import cpu_cores
from edgesr.runtime.outputs import FanOutSink, LiveContext, check_outputs, default_report_path, open_outputs
from edgesr.runtime.pacing import PacedSource
from edgesr.runtime.runner import Runner, open_runner
from edgesr.runtime.serve_policy import check_serving
from edgesr.runtime.sinks import NullSink, Sink
from edgesr.runtime.sources import LiveOptions, open_source
from edgesr.runtime.stats import LatencyHistogram, PsnrLog, StreamStats
from edgesr.runtime.status import StatusView
from edgesr.runtime.stream_report import StreamEntry, StreamReport, raise_error, write_report
from edgesr.runtime.streams_file import StreamsFile, StreamSpec
from edgesr.runtime.uris import OutputContext, OutputKind, OutputRef, classify_output, classify_source

_FIELD = re.compile(r"\{([^{}]*)\}")


def stream_name(uri: str) -> str:
    """A short name for a source: the file stem, the camera device, the last part of a URL's path."""
    ref = classify_source(uri)
    if ref.path is not None:
        return ref.path.stem or ref.path.name
    if ref.kind.name == "camera":
        return f"video{ref.target}"
    if ref.kind.name == "csi":
        return f"csi{ref.target}"
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", uri.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
    return tail or ref.kind.name


def expand(output: str, index: int, name: str) -> str | None:
    """The output of stream ``index``, or None when ``output`` is no template."""
    fields = _FIELD.findall(output)
    if not fields:
        return None
    bad = [f for f in fields if f not in ("i", "name")]
    if bad:
        raise UsageError(f"--output {output}: unknown field {{{bad[0]}}}; use {{i}} (source index) or {{name}}")
    return output.replace("{i}", str(index)).replace("{name}", name)


def plan_outputs(
    outputs: list[str], names: list[str], listen: str | None, own: list[tuple[str, ...]] | None = None
) -> tuple[list[list[OutputRef]], list[OutputRef]]:
    """(per-stream outputs, shared outputs), every one checked; refusals are one line. ``own``: outputs of one
    stream each (a --streams file's ``output`` in a [[stream]])."""
    per: list[list[str]] = [[] for _ in names]
    shared: list[str] = []
    for output in outputs:
        if expand(output, 0, names[0]) is not None:
            for i, name in enumerate(names):
                per[i].append(expand(output, i, name) or output)
            continue
        kind = classify_output(output).kind
        if not kind.shared:
            raise UsageError(
                f"--output {output}: {len(names)} sources cannot share one {kind.name} output; "
                f"use a template with {{i}} or {{name}}, e.g. {_templated(output, kind)}"
            )
        shared.append(output)
    for outs, extra in zip(per, own or [() for _ in names], strict=True):
        outs.extend(extra)
    flat = [o for outs in per for o in outs] + shared
    refs = check_outputs(flat, listen)  # duplicates (two streams of one {name}), ports, paths
    by_uri = dict(zip(flat, refs, strict=True))
    return [[by_uri[o] for o in outs] for outs in per], [by_uri[o] for o in shared]


def _templated(output: str, kind: OutputKind) -> str:
    """The example of a refusal: ``out.mp4`` -> ``out_{i}.mp4``, ``frames`` -> ``frames_{i}``, and a port per
    mount per stream for RTSP: ``rtsp://:8554/sr`` -> ``rtsp://:8554/sr{i}`` (mounts of one server)."""
    if not kind.writes and not kind.served:  # a window
        return "http://:8080 (one live view, every stream in a grid)"
    if "://" in output:
        return output.rstrip("/") + "{i}"
    p = Path(output)
    return str(p.with_name(f"{p.stem}_{{i}}{p.suffix}"))


class _SharedReference:
    """One FP32 reference for every stream's check: each ``ReferenceCheck`` closes its handle, the run closes
    the runner once at the end."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def infer(self, x: Any) -> Any:
        return self.runner.infer(x)

    def close(self) -> None:
        pass


def run_multi(settings: Any, open_reference: Any, say: Any, stop_on_signals: Any) -> StreamReport:
    """``run_stream`` for several sources (``settings.more_sources`` not empty)."""
    file: StreamsFile | None = settings.streams_file
    given = (settings.source, *settings.more_sources)
    specs = list(file.streams) if file is not None else [StreamSpec(u) for u in given]
    uris = [sp.source for sp in specs]
    names = [sp.name or stream_name(sp.source) for sp in specs]
    # output "" (the CLI with --streams and no -o): the file names the outputs
    outputs = [o for o in (*(file.outputs if file is not None else ()), settings.output, *settings.more_outputs) if o]
    if not outputs and not any(sp.outputs for sp in specs):
        raise UsageError("no output given: pass -o, or output = ... in the --streams file")
    if settings.realtime:
        live = [u for u in uris if classify_source(u).live]
        if live:
            raise UsageError(f"--realtime is for files: {live[0]} is live, its device sets the pace")
    if settings.tile.tile is not None:
        raise UsageError("--tile takes one source: tiled frames are not batched across streams")
    check_serving([*outputs, *(o for sp in specs for o in sp.outputs)], settings.listen, settings.serve)
    per_refs, shared_refs = plan_outputs(outputs, names, settings.listen, [sp.outputs for sp in specs])
    report_path = settings.report or default_report_path([r for refs in per_refs for r in refs])
    if report_path is not None:
        writable_place(report_path.parent, "--report")
    totals = StreamStats()
    report = StreamReport(__version__, time.strftime("%Y-%m-%dT%H:%M:%S%z"), " | ".join(map(redact, uris)))
    streams: list[Stream] = []
    error: BaseException | None = None
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(open_runner(settings.engine, providers=settings.providers,
                                                 threads=_threads(settings, len(uris)),
                                                 expect_scale=settings.expect_scale,
                                                 reconnect_s=settings.live.reconnect_s))
        reference, check_note = open_reference(settings, runner)
        if reference is not None:
            stack.callback(reference.close)
        cap = runner.max_batch or len(uris)
        config = BatchConfig(max_batch=max(1, min(cap, len(uris))), timeout_s=settings.batch_timeout_ms / 1e3,
                             max_frames=settings.pipeline.max_frames, side_by_side=settings.pipeline.side_by_side)
        if config.max_batch == 1:
            say(f"note: {runner.path.name} takes batch 1: the streams share it one frame per call (rebuild it with "
                f"build-engine --max-batch {len(uris)} to batch them)")
        sources = [stack.enter_context(open_source(sp.source, _live(settings.live, sp))) for sp in specs]
        if settings.realtime:  # each file at its own frame rate, as cameras deliver
            sources = [PacedSource(s) for s in sources]
        fragmented = any(s.live for s in sources) if settings.fragmented_mp4 is None else settings.fragmented_mp4
        stats = [StreamStats() for _ in uris]
        ctx = OutputContext(None, None, fragmented, settings.listen,
                            LiveContext(totals, settings.check, f"{len(uris)} streams -> {runner.describe()}",
                                        check_note, settings.serve), say)
        shared = open_outputs(shared_refs, ctx) if shared_refs else None
        if shared is not None:
            stack.callback(lambda: shared.close(complete=True))
        grid = None
        if shared is not None and any(r.kind.name == "liveview" for r in shared_refs):
            labels = [stream_label(i, n, st) for i, (n, st) in enumerate(zip(names, stats, strict=True))]
            grid = GridSink(shared, labels, runner.spec.scale)
        view = StatusView(totals, f"edgesr stream: {len(uris)} streams -> {runner.describe()}", quiet=settings.quiet)
        for i, (name, source) in enumerate(zip(names, sources, strict=True)):
            own: list[Sink] = []
            if per_refs[i]:
                own.append(open_outputs(per_refs[i], replace(ctx, rate=source.rate, audio_from=source.audio_path)))
            if grid is not None:
                own.append(grid.cell(i))
            sink = own[0] if len(own) == 1 else FanOutSink(own) if own else NullSink()
            check_cfg = settings.check if specs[i].check_every is None else replace(settings.check,
                                                                                    every=specs[i].check_every)
            check = (ReferenceCheck(_SharedReference(reference), check_cfg, stats[i].psnr,  # type: ignore[arg-type]
                                    lambda w, n=name: view.warn(f"[{n}] {w}"))
                     if reference is not None and check_cfg.every > 0 else None)
            streams.append(Stream(i, name, source, sink, stats[i], check, specs[i].max_frames))
        report = replace(
            report, engine=str(runner.path), engine_description=runner.describe(),
            engine_accepts=runner.input_shape_range, output=outputs,
            output_description=f"{len(uris)} streams, batches of up to {config.max_batch} "
                               f"(wait {settings.batch_timeout_ms:g} ms)",
            checks=check_note, check_every=settings.check.every, min_psnr=settings.check.min_psnr,
            fail_below=settings.check.fail_below,
        )
        pipeline = MultiPipeline(streams, runner, config, view.warn)

        def monitor() -> None:
            _sum_into(totals, stats)
            view.update()
            if settings.progress is not None:
                settings.progress(totals)

        totals.started = time.perf_counter()
        for st in stats:
            st.started = totals.started
        try:
            with view, stop_on_signals(pipeline):
                pipeline.run(monitor=monitor)
        finally:
            reason = pipeline.reason or "end of input"
            error = pipeline.error
            if error is None and sum(st.frames_in for st in stats) == 0:
                error = BadInputError("no source delivered a frame: nothing was written")
            aborted = error is not None and not isinstance(error, EdgeSRError)
            entries = []
            for s in streams:
                try:
                    if s.check is not None:
                        s.check.close(wait=not aborted)
                    s.sink.close(complete=s.ended == "end of input" and error is None)
                except Exception as exc:  # keep closing the rest; report the first failure
                    error = error or EdgeSRError(f"could not finalise the output of stream {s.index}: {exc}")
                entries.append(_entry(s, per_refs[s.index]))
            if pipeline.reason is None:
                ended = {s.ended for s in streams}
                reason = ended.pop() or reason if len(ended) == 1 else "every stream ended"
            _sum_into(totals, stats, final=True)
            report.end_reason, report.error = redact(reason), None if error is None else redact(str(error))
            report.set_counts(totals.counts())
            report.streams = [e.to_dict() for e in entries]
            report.batches = pipeline.batches.to_dict()
            error = write_report(report, report_path, error)
    raise_error(error)
    return report


def _threads(settings: Any, streams: int) -> int | None:
    """ONNX Runtime's intra-op threads: --threads, else the cores shared by the streams. On the CPU a batch is
    split into a part per core that run at once (``runner.concurrent_calls``): one thread per call has no
    per-layer barriers, and measured 15.0/16.8 against 12.8/12.2 fps with the session's default threads (4
    streams on 2 shared cores; docs/multistream.md). A remote engine takes no threads."""
    if settings.threads is not None or remote(settings.engine) is not None:
        return settings.threads  # type: ignore[no-any-return]
    return max(1, cpu_cores() // streams)


def _live(base: LiveOptions, spec: StreamSpec) -> LiveOptions:
    return base if spec.reconnect is None else replace(base, reconnect_s=float(spec.reconnect))


def _entry(s: Stream, refs: list[OutputRef]) -> StreamEntry:
    lat = s.stats.latency["end_to_end"].summary_ms()
    return StreamEntry(
        source=s.source.uri, name=s.name, output=[r.uri for r in refs], frames_in=s.stats.frames_in,
        frames_out=s.stats.frames_out, dropped=s.source.dropped, skipped=s.source.skipped, ended=s.ended or "",
        fps=round(s.stats.fps(), 3), latency_ms={"p50": lat["p50"], "p95": lat["p95"]}, psnr=s.stats.psnr.to_dict(),
        reconnects=getattr(s.source, "reconnects", None) if s.source.live else None,
    )


def _sum_into(totals: StreamStats, stats: list[StreamStats], final: bool = False) -> None:
    """The totals of every stream, for the status line, the live view and the report."""
    totals.frames_in = sum(st.frames_in for st in stats)
    totals.frames_out = sum(st.frames_out for st in stats)
    totals.dropped = sum(st.dropped for st in stats)
    totals.skipped = sum(st.skipped for st in stats)
    outs = [st.last_out for st in stats if st.last_out is not None]
    firsts = [st.first_out for st in stats if st.first_out is not None]
    totals.last_out, totals.first_out = (max(outs) if outs else None), (min(firsts) if firsts else None)
    last = next((st for st in reversed(stats) if st.output_hw), None)
    if last is not None:
        totals.input_hw, totals.output_hw = last.input_hw, last.output_hw
    latency = {stage: LatencyHistogram() for stage in totals.latency}  # rebuilt: readers see whole objects
    for stage, hist in latency.items():
        _merge(hist, [st.latency[stage] for st in stats])
    psnr = PsnrLog()
    _merge_psnr(psnr, [st.psnr for st in stats])
    totals.latency, totals.psnr = latency, psnr
    if final:
        for st in stats:
            totals.warnings.extend(st.warnings)


def _merge(into: LatencyHistogram, parts: list[LatencyHistogram]) -> None:
    for h in parts:
        into.counts += h.counts
        into.n += h.n
        into.total += h.total
        into.max = max(into.max, h.max)


def _merge_psnr(into: PsnrLog, parts: list[PsnrLog]) -> None:
    for p in parts:
        into.count += p.count
        into.skipped_busy += p.skipped_busy
        into.below_min += p.below_min
        into.total += p.total
        into.infinite += p.infinite
        into.worst = min(into.worst, p.worst)
    into.recent.extend(sorted((v for p in parts for v in p.recent), key=lambda fv: fv[0])[-into.keep :])

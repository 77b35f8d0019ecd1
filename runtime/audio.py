"""Carry a source file's audio track into the output video, packet for packet (no re-encode).

The audio is read from its own demuxer as the video is written (``mux_until`` the time of the last video
frame written, plus a little), so the output is interleaved and memory stays flat however long the file.
A codec the output container cannot hold (e.g. PCM into .mp4) is dropped with a warning instead of
failing the run: use .mkv to keep it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesr.errors import require

# Audio codecs that ISO-BMFF (.mp4) muxers accept; .mov/.mkv take more.
MP4_AUDIO_CODECS = {"aac", "mp3", "mp2", "ac3", "eac3", "alac", "flac", "opus"}


class AudioPassthrough:
    def __init__(self, inp: Any, in_stream: Any, out: Any, out_stream: Any) -> None:
        self.inp, self.in_stream, self.out, self.out_stream = inp, in_stream, out, out_stream
        self._packets = inp.demux(in_stream)
        self._pending: Any = None
        self._done = False
        self.packets = 0

    @classmethod
    def attach(cls, source: Path, out: Any, warnings: list[str]) -> AudioPassthrough | None:
        """Add a copy of ``source``'s first audio stream to the output container ``out`` (before any mux)."""
        av = require("av")
        try:
            inp = av.open(str(source))
        except av.error.FFmpegError as exc:
            warnings.append(f"audio not kept: cannot reopen {source.name} ({exc})")
            return None
        if not inp.streams.audio:
            inp.close()
            return None
        a_in = inp.streams.audio[0]
        codec = a_in.codec_context.name
        if Path(out.name).suffix.lower() == ".mp4" and codec not in MP4_AUDIO_CODECS:
            warnings.append(f"audio not kept: {codec} audio cannot go into .mp4 (write .mkv to keep it)")
            inp.close()
            return None
        if hasattr(out, "add_stream_from_template"):  # PyAV >= 14
            a_out = out.add_stream_from_template(a_in)
        else:  # PyAV 11-13
            a_out = out.add_stream(template=a_in)
        return cls(inp, a_in, out, a_out)

    def _next(self) -> Any:
        if self._pending is not None:
            pkt, self._pending = self._pending, None
            return pkt
        if self._done:
            return None
        av = require("av")
        while True:
            try:
                pkt = next(self._packets)
            except StopIteration:
                self._done = True
                return None
            except av.error.FFmpegError:
                continue  # a damaged audio packet: skip it, keep the rest
            if pkt.dts is not None and pkt.pts is not None:  # skip demuxer flush packets
                return pkt

    def mux_until(self, seconds: float | None) -> None:
        """Mux audio packets up to ``seconds`` of presentation time (all that remain when None)."""
        while True:
            pkt = self._next()
            if pkt is None:
                return
            if seconds is not None and float(pkt.pts * pkt.time_base) > seconds:
                self._pending = pkt
                return
            pkt.stream = self.out_stream
            self.out.mux(pkt)
            self.packets += 1

    def close(self) -> None:
        self.inp.close()

"""A test RTSP camera on loopback: gst-rtsp-server through ``gi`` (Debian's gir1.2-gst-rtsp-server-1.0).

Run it with the system Python (``/usr/bin/python3 rtsp_server.py PORT``); it serves an H.264 test
pattern at ``rtsp://127.0.0.1:PORT/cam``, prints ``READY`` once it listens and ``CLIENT`` when a client
connects. It stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--size", default="64x48", help="WxH")
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()
    w, h = args.size.split("x")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={args.fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    server.connect("client-connected", lambda *_: print("CLIENT", flush=True))
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print("READY", flush=True)
    loop.run()


if __name__ == "__main__":
    main()

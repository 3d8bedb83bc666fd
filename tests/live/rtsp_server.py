"""A real RTSP server for the live tests: GStreamer's gst-rtsp-server on 127.0.0.1.

Run with the system Python that has PyGObject (``/usr/bin/python3 rtsp_server.py PORT``); it
prints ``READY <port>`` once it listens. Mounts:

``/pattern``  a static colour-bar test pattern (SMPTE 75 %), 320x240 H.264 at 15 fps (for reading)
``/publish``  a RECORD mount: accepts one H.264 publisher (ANNOUNCE/RECORD) ...
``/styled``   ... and serves what it receives to any number of players
``/clip``     with ``--clip FILE``: an MP4 (H.264 + AAC) served in real time, audio included

Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODE = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 pass=quant quantizer=20"

PATTERN = ("( videotestsrc is-live=true pattern=smpte75 ! video/x-raw,width=320,height=240,framerate=15/1 "
           f"! {ENCODE} ! rtph264pay name=pay0 pt=96 config-interval=1 )")
RECORD = "( decodebin name=depay0 ! videoconvert ! intervideosink channel=published )"
REPLAY = (f"( intervideosrc channel=published timeout=2000000000 ! videoconvert ! {ENCODE} "
          "! rtph264pay name=pay0 pt=96 config-interval=1 )")
CLIP = ("( filesrc location={path} ! qtdemux name=d "
        "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 "
        "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )")


def factory(launch: str, record: bool = False) -> GstRtspServer.RTSPMediaFactory:
    made = GstRtspServer.RTSPMediaFactory()
    made.set_launch(launch)
    made.set_shared(True)
    if record:
        made.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
    return made


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--clip")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    mounts.add_factory("/pattern", factory(PATTERN))
    mounts.add_factory("/publish", factory(RECORD, record=True))
    mounts.add_factory("/styled", factory(REPLAY))
    if args.clip:
        mounts.add_factory("/clip", factory(CLIP.format(path=args.clip)))
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {args.port}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

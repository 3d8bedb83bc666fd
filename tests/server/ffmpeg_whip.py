"""A third-party WHIP client: FFmpeg's own ``whip`` muxer (in PyAV), publishing a moving test
pattern in H.264 baseline. Runs in its own process: the muxer blocks while it connects and sends.

Usage: ``python -m tests.server.ffmpeg_whip URL [--token T] [--seconds S] [--size WxH] [--fps F]``.
Prints ``CONNECTED`` once the WebRTC session is up, then ``SENT <n>`` when it has finished (and
sent its DELETE), or ``ERROR <message>``.

The only thing not FFmpeg's own is its DTLS certificate: the GnuTLS build in PyAV's wheels makes
a P-224 key that WebRTC stacks refuse, so a P-256 one is passed (see ``streamer.sinks.whip``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av

from streamer.sinks.whip import write_dtls_identity
from tests.media import pattern_frame


def publish(url: str, token: str | None, seconds: float, width: int, height: int, fps: float) -> int:
    with tempfile.TemporaryDirectory(prefix="ffmpeg-whip-") as folder:
        cert, key = write_dtls_identity(Path(folder))
        options = {"cert_file": str(cert), "key_file": str(key)}
        if token:
            options["authorization"] = token
        container = av.open(url, "w", format="whip", options=options)
        stream = container.add_stream("libx264", rate=round(fps), options={
            "preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = round(fps)
        frames = [av.VideoFrame.from_ndarray(pattern_frame(i * 4, height, width), format="rgb24").reformat(
            format="yuv420p") for i in range(30)]
        count = round(seconds * fps)
        start = time.monotonic()
        for i in range(count):
            frame = frames[i % len(frames)]
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
            if i == 0:
                print("CONNECTED", flush=True)
            time.sleep(max(0.0, start + (i + 1) / fps - time.monotonic()))
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--token")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    try:
        sent = publish(args.url, args.token, args.seconds, width, height, args.fps)
    except Exception as exc:  # reported to the test, which shows it
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 1
    print(f"SENT {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

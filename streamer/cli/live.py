"""``streamer live``: stylize a webcam or network stream as it arrives.

.. code-block:: text

    streamer live --input 0 --style starry --show
    streamer live --input rtsp://cam.local/stream --style wave -o rtsp://127.0.0.1:8554/styled
    streamer live --input rtsp://cam.local/stream --style wave -o recording.mp4 --show
    streamer live --input 0 --style starry --whip https://ingest.example.com/whip/me --whip-token ...
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from ..config import ProcessingSize
from ..errors import ConfigError, StreamerError
from ..inference.backends import default_threads
from ..live import KEYS, LiveResult, LiveSession, LiveSettings, StatusPrinter
from ..live.inputs import SignalCommands, TerminalKeys
from ..sinks.base import Sink
from ..sinks.file import EncoderSettings
from ..sinks.preview import PreviewSink
from ..sinks.recording import RecordingSink
from ..sinks.rtsp import RtspSink, is_rtsp_url
from ..sinks.vcam import VirtualCameraSink
from ..sinks.whip import WhipSink
from ..sources.base import Source
from ..sources.stream import RTSP_TRANSPORTS, StreamSource, is_network_url
from ..sources.webcam import WebcamSource, camera_device
from .common import (
    add_engine_arguments,
    add_style_arguments,
    create_engine,
    create_recipe,
    non_negative_seconds,
    positive_int,
    processing_size,
    start_engine,
)
from .loop import run_async

__all__ = ["add_arguments", "run"]

logger = logging.getLogger(__name__)

WHIP_TOKEN_ENV = "STREAMER_WHIP_TOKEN"


def _camera_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(width), int(height)


_KEYS_HELP = """while running (keys in the terminal or the preview window; signals from elsewhere):
  n, space  / SIGUSR1   next style          p          previous style
  +, =                  stronger (+0.1)     - / SIGUSR2  weaker (-0.1; SIGUSR2 wraps to 1)
  q, Esc / Ctrl-C       stop (recordings are finalized; Ctrl-C three times quits at once)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamer live``."""
    parser.epilog = _KEYS_HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("-i", "--input", required=True, metavar="SOURCE",
                        help="camera index or device (0, /dev/video2), rtsp:// or http(s):// URL, or a file")
    add_style_arguments(parser)
    parser.add_argument("--cycle", metavar="STYLE,...",
                        help="styles to step through at run time with key n / SIGUSR1 "
                             "(default: the built-in styles)")
    add_engine_arguments(parser)
    # capture and decoding need a core of their own: on 2 cores, 1 inference thread gives
    # Magenta more fps and a quarter of the added latency of 2 (benchmarks/live_bench.py)
    parser.set_defaults(threads=max(1, default_threads() - 1))

    out = parser.add_argument_group("outputs (several at once are fine)")
    out.add_argument("--show", action="store_true", help="preview window (needs OpenCV's GUI build)")
    out.add_argument("-o", "--output", action="append", default=[], metavar="FILE|rtsp://...",
                     help="record to a file, or publish to an RTSP server; repeatable")
    out.add_argument("--whip", action="append", default=[], metavar="URL",
                     help="publish over WebRTC to a WHIP endpoint (a streaming platform's WebRTC ingest, "
                          "another 'streamer serve' at http://HOST:PORT/whip/NAME); repeatable")
    out.add_argument("--whip-token", default=None, metavar="TOKEN",
                     help=f"bearer token for --whip (default: ${WHIP_TOKEN_ENV})")
    out.add_argument("--vcam", nargs="?", const="", metavar="DEVICE",
                     help="send to a virtual camera (v4l2loopback on Linux; optional device path)")
    out.add_argument("--vcam-backend", help=argparse.SUPPRESS)
    out.add_argument("--no-audio", action="store_true", help="record without the source's audio")
    out.add_argument("--crf", type=int, help="recording quality, lower is better (default: 20)")
    out.add_argument("--preset", help="recording encoder speed preset (default: veryfast)")
    out.add_argument("--publish-transport", choices=RTSP_TRANSPORTS, default="tcp",
                     help="RTSP transport for publishing (default: %(default)s)")

    src = parser.add_argument_group("source")
    src.add_argument("--rtsp-transport", choices=RTSP_TRANSPORTS,
                     help="RTSP transport for reading (default: tcp)")
    src.add_argument("--open-timeout", type=non_negative_seconds, default=10.0, metavar="S",
                     help="give up opening the source after S seconds (default: %(default)s)")
    src.add_argument("--read-timeout", type=non_negative_seconds, default=5.0, metavar="S",
                     help="a source silent for S seconds has stalled (default: %(default)s)")
    src.add_argument("--retry-for", type=non_negative_seconds, default=30.0, metavar="S",
                     help="keep reconnecting a lost network source for S seconds; 0: never "
                          "(default: %(default)s)")
    src.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=None,
                     help="play files at their own pace (default: on for files)")
    src.add_argument("--loop", action="store_true", help="start a file again at its end")
    src.add_argument("--camera-size", type=_camera_size, metavar="WxH", help="mode to ask the camera for")
    src.add_argument("--camera-fps", type=float, metavar="FPS", help="frame rate to ask the camera for")

    run_group = parser.add_argument_group("session")
    run_group.add_argument("--duration", type=non_negative_seconds, metavar="S", help="stop after S seconds")
    run_group.add_argument("--frames", type=positive_int, metavar="N", help="stop after N output frames")
    run_group.add_argument("--queue", type=positive_int, default=1, metavar="N",
                           help="frames allowed to wait for inference; older ones are dropped "
                                "(default: %(default)s)")
    run_group.add_argument("--stats-json", type=Path, metavar="FILE",
                           help="keep FILE updated with the session's numbers (JSON)")
    run_group.add_argument("--status", action=argparse.BooleanOptionalAction, default=None,
                           help="print the status line (default: when stderr is a terminal)")


def build_source(args: argparse.Namespace) -> Source:
    """The source ``--input`` and the source options describe."""
    device = camera_device(args.input)
    if device is not None:
        if args.rtsp_transport or args.loop or args.realtime is not None:
            raise ConfigError("--rtsp-transport, --loop and --realtime do not apply to cameras")
        if isinstance(device, str) and not Path(device).exists():
            raise ConfigError(f"no such camera: {device} (see 'streamer devices')")
        width, height = args.camera_size or (None, None)
        return WebcamSource(device, width=width, height=height, fps=args.camera_fps,
                            read_timeout=args.read_timeout)
    if args.camera_size or args.camera_fps:
        raise ConfigError("--camera-size and --camera-fps only apply to cameras")
    if not is_network_url(args.input) and not Path(args.input).is_file():
        raise ConfigError(f"no such camera, URL or file: {args.input}")
    if args.open_timeout <= 0 or args.read_timeout <= 0:
        raise ConfigError("--open-timeout and --read-timeout must be positive")
    return StreamSource(args.input, transport=args.rtsp_transport, open_timeout=args.open_timeout,
                        read_timeout=args.read_timeout, realtime=args.realtime, loop=args.loop,
                        audio=not args.no_audio and any(not is_rtsp_url(o) for o in args.output))


def build_sinks(args: argparse.Namespace, on_key: PreviewKeys) -> list[Sink]:
    """The sinks ``--show``, ``-o`` and ``--vcam`` ask for."""
    sinks: list[Sink] = []
    if args.show:
        sinks.append(PreviewSink(f"streamer: {Path(args.input).name or args.input}", on_key=on_key))
    settings = EncoderSettings(None, args.crf, args.preset)
    for target in args.output:
        if is_rtsp_url(target):
            sinks.append(RtspSink(target, transport=args.publish_transport))
        elif is_network_url(target):
            raise ConfigError(f"cannot publish to {target.split('://')[0]}:// with -o (use rtsp:// or a file; "
                              "--whip URL for a WHIP endpoint)")
        elif Path(target).resolve() == Path(args.input).resolve():
            raise ConfigError(f"the recording would overwrite the input: {target}")
        else:
            sinks.append(RecordingSink(target, settings, audio=not args.no_audio))
    token = args.whip_token or os.environ.get(WHIP_TOKEN_ENV) or None
    sinks.extend(WhipSink(url, token=token) for url in args.whip)
    if args.vcam is not None:
        sinks.append(VirtualCameraSink(args.vcam or None, fps=args.camera_fps, backend=args.vcam_backend))
    if not sinks and args.stats_json is None:
        raise ConfigError("give an output: --show, -o FILE, -o rtsp://..., --whip URL, --vcam "
                          "(or --stats-json to only measure)")
    return sinks


class PreviewKeys:
    """Forwards keys pressed in the preview window to the session (bound once it exists)."""

    def __init__(self) -> None:
        self.session: LiveSession | None = None

    def __call__(self, key: str) -> None:
        command = KEYS.get(key.lower())
        if command is not None and self.session is not None:
            self.session.command(command)


async def _live(args: argparse.Namespace, source: Source, sinks: list[Sink], keys: PreviewKeys) -> LiveResult:
    recipe = create_recipe(args)
    settings = LiveSettings(size=processing_size(args), capacity=args.queue, duration=args.duration,
                            max_frames=args.frames, retry_for=args.retry_for)
    printer = StatusPrinter(show=args.status, stats_json=args.stats_json)
    engine = create_engine(args, max_batch=1)
    try:
        await start_engine(engine, recipe)
    except BaseException:
        await engine.stop(drain=False)
        raise
    # key n / SIGUSR1 step through --cycle, else through the built-in styles
    cycle = [s.strip() for s in (args.cycle or "").split(",") if s.strip()] or sorted(engine.styles.builtins)
    loop = asyncio.get_running_loop()
    session = LiveSession(engine, source, sinks, recipe, settings=settings, cycle=cycle, on_status=printer)
    keys.session = session
    signals = SignalCommands(session.command)
    terminal = TerminalKeys(session.command)
    signals.install(loop)
    try:
        terminal.start(loop)
        return await session.run()
    finally:
        terminal.close()
        signals.uninstall()
        printer.finish()
        await engine.stop(drain=False)


def _summary(result: LiveResult) -> str:
    snap = result.snapshot
    p50 = "-" if snap.latency_p50_ms is None else f"{snap.latency_p50_ms:.0f}"
    p95 = "-" if snap.latency_p95_ms is None else f"{snap.latency_p95_ms:.0f}"
    rate = snap.frames_out / snap.elapsed_s if snap.elapsed_s else 0.0
    return (f"streamer: {result.reason}: {snap.frames_out} frames out of {snap.frames_in} "
            f"({rate:.1f} fps), latency p50 {p50} / p95 {p95} ms, dropped {snap.dropped}, "
            f"reconnects {snap.reconnects}")


def run(args: argparse.Namespace) -> int:
    """Run ``streamer live``."""
    if args.crf is not None and not 0 <= args.crf <= 63:
        raise ConfigError(f"--crf must be between 0 and 63, got {args.crf}")
    ProcessingSize.parse(args.size)
    keys = PreviewKeys()
    source = build_source(args)
    sinks = build_sinks(args, keys)
    for sink in sinks:  # fail before the models load
        sink.check()
    result = run_async(_live(args, source, sinks, keys))
    print(_summary(result), file=sys.stderr)
    if result.error is not None:
        if isinstance(result.error, StreamerError):
            raise result.error
        raise StreamerError(f"{result.reason}: {result.error}") from result.error
    return 0

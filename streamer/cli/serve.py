"""``streamer serve``: the WebRTC server (a browser sends its camera and gets it back stylized)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..extras import install_hint
from ..inference.process import ProcessPriority
from .common import add_engine_arguments, create_engine, processing_size
from .loop import run_async

if TYPE_CHECKING:  # aiortc and aiohttp are the optional webrtc extra
    from ..engine import Engine
    from ..server import ServerSettings
    from ..server.tls import Certificate
    from ..sources.base import Source

__all__ = ["add_arguments", "run"]

TOKEN_ENV = "STREAMER_TOKEN"
#: off: a process at idle priority answers /api/info about 2x faster but stylizes 3-10x fewer
#: frames on a busy 2-core machine (benchmarks/README.md, serve responsiveness)
DEFAULT_INFERENCE_PROCESS = "off"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamer serve``."""
    net = parser.add_argument_group("network and access")
    net.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default: %(default)s, this machine only)")
    net.add_argument("--port", type=int, default=8080, help="port (default: %(default)s; 0 = any free one)")
    net.add_argument("--token", help=f"secret every API call must carry (default: ${TOKEN_ENV}); "
                                     "required when --host is not loopback, unless --insecure")
    net.add_argument("--insecure", action="store_true",
                     help="allow a non-loopback --host without a token (anyone reaching the port may use it)")
    net.add_argument("--ice-server", action="append", default=[], metavar="URL",
                     help="STUN/TURN server for both ends, e.g. stun:stun.example.org:3478 or "
                          "turn:USER:PASSWORD@turn.example.org:3478 (repeatable; default: none)")
    net.add_argument("--ice-host", action="append", default=[], metavar="ADDR",
                     help="offer only this address of this machine for the media (ICE host candidate; "
                          "repeatable). Default: the loopback address when --host is loopback, "
                          "else every interface address")
    tls = parser.add_argument_group("HTTPS (browsers give the camera only to https:// pages, or to localhost)")
    tls.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (chain), PEM")
    tls.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert, PEM")
    tls.add_argument("--tls-self-signed", action="store_true",
                     help="serve HTTPS with a certificate made at start (browsers warn once; check the "
                          "SHA-256 fingerprint printed)")
    limits = parser.add_argument_group("sessions and limits")
    limits.add_argument("--max-sessions", type=int, default=4,
                        help="concurrent sessions; more get HTTP 503 (default: %(default)s)")
    limits.add_argument("--audio", choices=["echo", "mute"], default="mute",
                        help="send the browser's microphone back (echo) or drop it (default: %(default)s)")
    limits.add_argument("--max-upload-mb", type=float, default=8.0,
                        help="largest style image upload in MB (default: %(default)s)")
    limits.add_argument("--max-upload-megapixels", type=float, default=16.0,
                        help="largest style image upload in megapixels (default: %(default)s)")
    limits.add_argument("--idle-timeout", type=float, default=5.0,
                        help="seconds without video before a session is freed (default: %(default)s)")
    calls = parser.add_argument_group("calls (/room/NAME), WHIP ingest and WHEP playback")
    calls.add_argument("--room", action="append", default=[], metavar="NAME",
                       help="allow only these call rooms (repeatable; default: any name, made on first join)")
    calls.add_argument("--room-size", type=int, default=4, help="people per call (default: %(default)s)")
    calls.add_argument("--max-rooms", type=int, default=4, help="calls at once (default: %(default)s)")
    calls.add_argument("--max-streams", type=int, default=4,
                       help="WHIP streams and --source streams at once (default: %(default)s)")
    calls.add_argument("--max-viewers", type=int, default=16,
                       help="WHEP viewers at once, all streams together (default: %(default)s)")
    calls.add_argument("--source", action="append", default=[], metavar="NAME=INPUT",
                       help="read a camera (0, /dev/video2), stream URL or file (looped) and offer it "
                            "stylized as /whep/NAME (repeatable)")
    parser.add_argument("--style", action="append", default=[], metavar="[NAME=]IMAGE",
                        help="add a style image to the page's gallery (repeatable)")
    add_engine_arguments(parser, default_size="256")
    parser.add_argument("--inference-process", choices=["off", *(p.value for p in ProcessPriority)],
                        default=DEFAULT_INFERENCE_PROCESS,
                        help="run the models in a process of their own at this CPU priority, so the "
                             "event loop (the API, every session's packets) waits less for a core, and "
                             "inference gets only what is left: "
                             "'idle' (SCHED_IDLE: only cores nothing else wants), 'nice' (nice 19), "
                             "'normal'; 'off': on a thread of the server's process (default: %(default)s)")
    parser.add_argument("--work-niceness", type=int, default=0, metavar="N",
                        help="run every thread of the server but the event loop's (inference, video "
                             "codecs, image decodes) N nicer than it (0 to 19; default: %(default)s, off). "
                             "Useful with a server started at a higher priority than the rest of the "
                             "machine (nice -n -10, systemd Nice=-10): the loop keeps it, the work goes "
                             "back to normal; on its own it costs frames (README)")


def _settings(args: argparse.Namespace) -> ServerSettings:
    from ..server import ServerSettings, parse_ice_server

    token = args.token or os.environ.get(TOKEN_ENV) or None
    return ServerSettings(
        host=args.host,
        port=args.port,
        token=token,
        insecure=args.insecure,
        max_sessions=args.max_sessions,
        ice_servers=tuple(parse_ice_server(url) for url in args.ice_server),
        ice_hosts=tuple(args.ice_host),
        audio=args.audio,
        size=processing_size(args),
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_upload_pixels=int(args.max_upload_megapixels * 1_000_000),
        idle_timeout=args.idle_timeout,
        rooms=tuple(args.room),
        room_size=args.room_size,
        max_rooms=args.max_rooms,
        max_streams=args.max_streams,
        max_viewers=args.max_viewers,
        work_niceness=args.work_niceness,
    )


def _sources(specs: list[str]) -> dict[str, Source]:
    from ..server.feeds import parse_source

    sources: dict[str, Source] = {}
    for spec in specs:
        name, source = parse_source(spec)
        if name in sources:
            raise ConfigError(f"--source {name} is given twice")
        sources[name] = source
    return sources


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; every session is closed on the way out."""
    try:
        import aiohttp  # noqa: F401
        import aiortc  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"'streamer serve' needs the webrtc extra ({exc.name} is missing): "
                          f"{install_hint('webrtc')}") from None
    from ..server.ice import check_bindable

    settings = _settings(args)
    check_bindable(settings.ice_hosts)
    certificate = _certificate(args, settings)
    sources = _sources(args.source)
    process = None if args.inference_process == "off" else ProcessPriority(args.inference_process)
    engine = create_engine(args, max_batch=4, inference_process=process)
    return run_async(_serve(engine, settings, args.style, certificate, sources))


def _certificate(args: argparse.Namespace, settings: ServerSettings) -> Certificate | None:
    from ..server.tls import load_certificate, self_signed_certificate

    if args.tls_self_signed:
        if args.tls_cert or args.tls_key:
            raise ConfigError("give either --tls-cert/--tls-key or --tls-self-signed, not both")
        return self_signed_certificate([settings.host, *settings.ice_hosts, *_interface_addresses(settings)])
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together (the certificate and its private key)")
    return load_certificate(args.tls_cert, args.tls_key) if args.tls_cert else None


def _interface_addresses(settings: ServerSettings) -> list[str]:
    """This machine's addresses, when the server listens on all of them."""
    if settings.host not in ("0.0.0.0", "::", "[::]"):
        return []
    import ifaddr  # aioice's dependency

    return [ip.ip if isinstance(ip.ip, str) else ip.ip[0] for adapter in ifaddr.get_adapters() for ip in adapter.ips]


async def _serve(engine: Engine, settings: ServerSettings, styles: list[str], certificate: Certificate | None,
                 sources: dict[str, Source]) -> int:
    from ..server import create_app
    from ..server.runner import create_runner, listen
    from ..server.styling import build_gallery

    report = await engine.start()
    try:
        gallery = await build_gallery(engine.styles, styles)
        app = create_app(engine, settings, gallery, owns_engine=True, sources=sources)
        runner = create_runner(app, settings)
        await runner.setup()
        try:
            try:
                port = await listen(runner, settings.host, settings.port,
                                    certificate.context if certificate else None)
            except OSError as exc:
                raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: "
                                  f"{exc.strerror or exc}") from None
            _announce(settings, port, report.summary, len(gallery), certificate)
            await _until_stopped()
            print("streamer: shutting down, closing every session", file=sys.stderr)
        finally:
            await runner.cleanup()
    finally:
        await engine.stop(drain=False)
    return 0


def _announce(settings: ServerSettings, port: int, backend: str, styles: int,
              certificate: Certificate | None) -> None:
    from ..server import is_loopback

    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    if host in ("0.0.0.0", "[::]"):
        host = "THIS-MACHINE"
    scheme = "https" if certificate else "http"
    url = f"{scheme}://{host}:{port}/" + (f"#token={settings.token}" if settings.token else "")
    print(f"streamer: {backend}; processing size {settings.size}; {styles} gallery styles; "
          f"up to {settings.max_sessions} sessions", file=sys.stderr)
    if certificate is not None and certificate.self_signed:
        print(f"streamer: self-signed certificate, SHA-256 fingerprint {certificate.fingerprint} "
              "(the browser warns once: check that it shows this fingerprint before accepting)", file=sys.stderr)
    if certificate is None and not is_loopback(settings.host):
        print("streamer: plain http: browsers on other machines refuse the camera to it; use "
              "--tls-self-signed, --tls-cert/--tls-key, or an HTTPS reverse proxy (see README)", file=sys.stderr)
    print(f"streamer: open {url}  (Ctrl-C to stop)", flush=True)
    base = url.split("#")[0]
    print(f"streamer: calls at {base}room/NAME, WHIP ingest at {base}whip/NAME, WHEP playback at "
          f"{base}whep/NAME", file=sys.stderr)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not on this platform: Ctrl-C raises instead
            pass
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass



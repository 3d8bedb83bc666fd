"""Live sources the server reads itself and offers as named streams (``--source NAME=INPUT``).

.. code-block:: text

    streamer serve --source door=rtsp://cam.local/stream --source desk=0
    # then watch /whep/door and /whep/desk; change a look with POST /api/streams/door/style

What ``streamer live`` reads (a camera, an RTSP/HTTP stream, a file, played in a loop) goes
through the same capture thread (reconnecting a network source with backoff) into a
:class:`~streamer.server.broadcast.Broadcast`: stylized only while someone watches, one
inference per frame whatever the number of viewers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from ..buffers import BufferClosed
from ..errors import ConfigError, EngineClosedError
from ..live.capture import CaptureThread
from ..live.clock import Timeline
from ..sources.base import Source
from ..sources.stream import StreamSource, is_network_url
from ..sources.webcam import WebcamSource, camera_device
from ..tasks import spawn_supervised
from .broadcast import Broadcast, BroadcastKind
from .context import CONTEXT, ServerContext
from .names import valid_name

__all__ = ["LiveFeed", "add_feeds", "parse_source"]

logger = logging.getLogger(__name__)

#: keep reconnecting a lost network source this long (seconds)
RETRY_FOR = 3600.0


def parse_source(spec: str) -> tuple[str, Source]:
    """``NAME=INPUT`` (a camera index or device, a stream URL, or a file played in a loop).

    :raises ConfigError: a bad name, or an input that does not exist.
    """
    name, sep, where = spec.partition("=")
    if not sep or not valid_name(name) or not where:
        raise ConfigError(f"--source {spec!r}: use NAME=INPUT, NAME being 1-64 letters, digits, '-' or '_'")
    device = camera_device(where)
    if device is not None:
        if isinstance(device, str) and not Path(device).exists():
            raise ConfigError(f"--source {name}: no such camera: {device} (see 'streamer devices')")
        return name, WebcamSource(device)
    if is_network_url(where):
        return name, StreamSource(where)
    if not Path(where).is_file():
        raise ConfigError(f"--source {name}: no such camera, URL or file: {where}")
    return name, StreamSource(where, realtime=True, loop=True)


class LiveFeed:
    """One ``--source``: its capture thread and its broadcast.

    :param name: the stream's name.
    :param source: what to read (opened by :meth:`start`, closed by :meth:`close`).
    :param context: the server's shared objects.
    """

    def __init__(self, name: str, source: Source, context: ServerContext) -> None:
        self.name = name
        self._context = context
        self.capture = CaptureThread(source, Timeline(), retry_for=RETRY_FOR)
        self.broadcast: Broadcast | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Open the source (errors go to the caller), then stylize it for whoever watches."""
        info = await asyncio.to_thread(self.capture.open)
        logger.info("source %s: %s", self.name, info.description)
        ctx = self._context
        self.broadcast = Broadcast(self.name, BroadcastKind.SOURCE, ctx.engine, ctx.settings, ctx.gallery,
                                   self._ended)
        await self.broadcast.set_style({})  # the gallery's first style, until someone changes it
        with ctx.streams.reserve(self.name):
            ctx.streams.add(self.broadcast)
        self.capture.start()
        self._task = spawn_supervised(self._pump(), f"source-{self.name}", lambda _, e: self._ended(str(e)))

    async def _pump(self) -> None:
        assert self.broadcast is not None
        while True:
            try:
                frame = await self.capture.frames.get_async()
            except BufferClosed:
                error = self.capture.error
                self._ended(f"the source ended{f': {error}' if error else ''}")
                return
            try:
                await self.broadcast.submit(frame)
            except EngineClosedError as exc:
                self._ended(str(exc))
                return

    def _ended(self, reason: str) -> None:
        if self._closing is None:
            logger.warning("source %s stopped: %s", self.name, reason)
            self._closing = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        """Stop reading and free the stream (idempotent; a second call waits for the first)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self.broadcast is not None:
            self._context.streams.remove(self.broadcast)
        await asyncio.to_thread(self.capture.stop)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.broadcast is not None:
            await self.broadcast.close()


FEEDS: web.AppKey[list[LiveFeed]] = web.AppKey("streamer_feeds", list)


def add_feeds(app: web.Application, sources: Mapping[str, Source]) -> None:
    """Start ``sources`` with the app (a source that cannot open stops the start) and close
    them when it shuts down."""
    app[FEEDS] = []

    async def start(app: web.Application) -> None:
        for name, source in sources.items():
            feed = LiveFeed(name, source, app[CONTEXT])
            app[FEEDS].append(feed)
            await feed.start()

    async def stop(app: web.Application) -> None:
        await asyncio.gather(*(feed.close() for feed in app[FEEDS]), return_exceptions=True)

    app.on_startup.append(start)
    app.on_shutdown.append(stop)

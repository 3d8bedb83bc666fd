"""A broadcast: one stylized stream that any number of peers watch.

.. code-block:: text

    camera track (WHIP publisher, room participant) or a live source's frames
        ─▶ EngineStream "<kind>-<name>" (latest, capacity 1; only while someone watches)
        ─▶ the ONE inference thread (shared with every session, room and stream)
        ─▶ results ─▶ VideoFeed: encoded once per codec in use ─▶ every viewer's relay track
    audio track ─▶ AudioFeed ─▶ every listener's relay track (passed through)

One inference per published frame, whatever the number of viewers; a stream nobody watches
costs its decoding only. A broadcast does not own a peer connection: its owner (a WHIP
publisher, a room participant, a live source) feeds it and closes it.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from ..config import QueuePolicy
from ..engine import Engine
from ..errors import EngineClosedError, StyleError
from ..frames import Frame
from ..metrics import StreamMeters
from ..styles import StyleRecipe
from ..tasks import spawn_supervised
from .media import VideoPump
from .relay import AudioFeed, VideoFeed
from .settings import ServerSettings
from .styling import Gallery, StreamStyle
from .tracks import RtpClock

__all__ = ["Broadcast", "BroadcastKind"]


class BroadcastKind(enum.StrEnum):
    """Where a broadcast's frames come from."""

    WHIP = "whip"  #: a WHIP publisher (OBS, FFmpeg, GStreamer, a browser)
    ROOM = "room"  #: a participant of a call
    SOURCE = "source"  #: a camera, network stream or file the server reads (``--source``)


class Broadcast:
    """One stylized stream and the feeds its viewers play.

    :param name: the stream's name (``/whep/NAME``).
    :param kind: where its frames come from.
    :param engine: the shared engine; the broadcast opens its own ``latest`` stream on it.
    :param settings: server settings (processing size).
    :param gallery: the shared styles (the stream starts with the first one).
    :param on_end: told once, with the reason, when the stream cannot go on (its input ended,
        inference failed, one of its tasks failed); the owner then closes it.
    """

    def __init__(self, name: str, kind: BroadcastKind, engine: Engine, settings: ServerSettings,
                 gallery: Gallery, on_end: Callable[[str], None]) -> None:
        self.name = name
        self.kind = kind
        self.created_at = time.monotonic()
        self.style = StreamStyle(gallery, engine.styles)
        self._stream = engine.open_stream(f"{kind.value}-{name}", QueuePolicy.LATEST, capacity=1,
                                          size=settings.size, results=1, lookup=self.style.lookup)
        self.style.bind(self._stream)
        self._on_end = on_end
        self._ended = False
        self.video = VideoFeed(name, self._task_failed)
        self.audio: AudioFeed | None = None
        self.has_video = False  #: a camera track feeds it
        self._pump = VideoPump(self._stream, wanted=self.watched)
        self._clock = RtpClock()
        self._last_submit: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._spawn(self._distribute(), "distribute")

    # -- what it is ---------------------------------------------------------------------------
    @property
    def recipe(self) -> StyleRecipe:
        """The style recipe in use."""
        return self.style.recipe

    @property
    def meters(self) -> StreamMeters:
        """Frames in and out of inference, their rates, and latency (decoded -> stylized)."""
        return self._stream.meters

    @property
    def last_frame_at(self) -> float | None:
        """Monotonic time of the newest input frame (None before the first)."""
        pumped = self._pump.last_frame_at
        if pumped is None or (self._last_submit is not None and self._last_submit > pumped):
            return self._last_submit
        return pumped

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has begun."""
        return self._closed

    def watched(self) -> bool:
        """True while someone watches (only then are frames stylized)."""
        return self.video.viewers > 0

    # -- frames in ----------------------------------------------------------------------------
    def take(self, track: MediaStreamTrack) -> bool:
        """Use a publisher's track: the first video one is stylized, the first audio one passed
        to every listener. Returns False for any other (the caller drains it)."""
        if track.kind == "video" and not self.has_video:
            self.has_video = True
            self._spawn(self._run_pump(track), "video")
            return True
        if track.kind == "audio" and self.audio is None:
            self.audio = AudioFeed(self.name, self._task_failed)
            self._spawn(self.audio.run(track), "audio")
            return True
        return False

    async def submit(self, frame: Frame) -> None:
        """Stylize ``frame`` if someone watches (a live source's adapter calls this).

        :raises EngineClosedError: the engine failed or stopped.
        """
        self._last_submit = time.monotonic()
        if not self.watched():
            return
        try:
            await self._stream.submit(frame)
        except StyleError:
            pass  # the first style is still being applied

    async def _run_pump(self, track: MediaStreamTrack) -> None:
        self._end(await self._pump.run(track))

    async def _distribute(self) -> None:
        """Stylized frames, as they are ready, to the encoders of the codecs in use."""
        try:
            async for frame in self._stream.results():
                self.video.offer(frame.image, self._clock.pts(frame))
        except EngineClosedError as exc:
            self._end(str(exc))

    # -- style --------------------------------------------------------------------------------
    async def set_style(self, fields: Mapping[str, Any]) -> StyleRecipe:
        """Change style, second style, mix or strength; applies to the next frame.

        :raises ConfigError: a field has a bad value.
        :raises StyleError: an unknown style, or strength below 1 without a predictor.
        """
        return await self.style.update(fields)

    # -- the end ------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        spawn_supervised(coro, f"{self.kind.value}-{self.name}-{name}", self._task_failed, self._tasks)

    def _task_failed(self, name: str, error: BaseException) -> None:
        self._end(f"internal error ({name.rsplit('-', 1)[-1]}): {error}")

    def _end(self, reason: str) -> None:
        if not self._ended and not self._closed:
            self._ended = True
            self._on_end(reason)

    async def close(self) -> None:
        """Stop stylizing, detach every viewer and listener, free the engine stream (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stream.close()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.video.close()
        if self.audio is not None:
            self.audio.close()
        self.style.release()

    # -- views --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Name, kind, style, viewers and counters (JSON-friendly)."""
        stats = self._stream.stats
        return {
            "name": self.name,
            "kind": self.kind.value,
            **self.style.as_dict(),
            "viewers": self.video.viewers,
            "listeners": 0 if self.audio is None else self.audio.listeners,
            "codecs": self.video.codecs,
            **self._stream.meters.as_dict(),
            "dropped": stats.dropped,
            "stylized": stats.processed,
            "encoded": self.video.encoded,
            "inference_seconds": round(stats.inference_seconds, 3),
        }

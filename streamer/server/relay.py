"""Fan-out: one stylized stream (and its audio) to every peer that watches it.

A :class:`VideoFeed` takes a stream's stylized pictures, encodes each once per codec in use
(:class:`~streamer.server.encoding.SharedEncoder`, on a worker thread) and hands the result to
every :class:`VideoRelayTrack` subscribed in that codec. An :class:`AudioFeed` reads a
publisher's audio track and hands every frame to each :class:`AudioRelayTrack`. Relay tracks are
what a peer connection sends; each plays one feed at a time and can be moved to another
(:meth:`VideoRelayTrack.attach`), which is how a call's tiles change hands without renegotiation.

Nothing waits on a slow viewer: each track keeps a few frames; a video track that overflows
drops what it holds and waits for the next keyframe (which it asks for), an audio track drops
its oldest frame.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, MediaStreamTrack

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..tasks import spawn_supervised
from .encoding import EncodedFrame, SharedEncoder

__all__ = ["AudioFeed", "AudioRelayTrack", "VideoFeed", "VideoRelayTrack"]

logger = logging.getLogger(__name__)

#: encoded pictures a viewer may hold before it starts over from a keyframe
VIDEO_QUEUE = 4
#: audio frames (20 ms each) a listener may hold before the oldest is dropped
AUDIO_QUEUE = 10
#: the gap inserted in a track's timestamps when it moves to another feed (one frame at 30 fps)
SWITCH_GAP = VIDEO_TIME_BASE.denominator // 30

FailureHandler = Callable[[str, BaseException], None]


class _RelayTrack(MediaStreamTrack):
    """What both relay tracks share: one feed at a time, and a small queue the feed fills and
    the sender empties."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.feed: Any = None  #: the feed playing now (a VideoFeed or an AudioFeed), or None
        self._items: collections.deque[Any] = collections.deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        self.dropped = 0  #: items dropped because the sender fell behind

    def attach(self, feed: Any) -> None:
        """Play ``feed`` (None: play nothing) instead of the current one."""
        if feed is self.feed:
            return
        self.detach()
        if feed is None or self.readyState != "live":
            return
        self.feed = feed
        self._attached()
        feed.subscribe(self)

    def _attached(self) -> None:  # noqa: B027 - optional hook
        """A new feed is about to play."""

    def detach(self) -> None:
        """Stop playing the current feed (idempotent); the track stays open, sending nothing."""
        feed, self.feed = self.feed, None
        self._items.clear()
        if feed is not None:
            feed.unsubscribe(self)

    async def _next_item(self) -> Any:
        while not self._items:
            if self.readyState != "live":
                raise MediaStreamError
            await self._ready.wait()
            self._ready.clear()
        if self.readyState != "live":
            raise MediaStreamError
        return self._items.popleft()

    def _push(self, item: Any) -> None:
        self._items.append(item)
        self._ready.set()

    def stop(self) -> None:
        """End the track: the sender's next :meth:`recv` raises :class:`MediaStreamError`."""
        self.detach()
        super().stop()
        self._ready.set()


class VideoRelayTrack(_RelayTrack):
    """A video track that sends one :class:`VideoFeed`'s encoded pictures, in ``codec``.

    Its timestamps keep increasing when it is moved to another feed, so the receiver sees one
    continuous stream. ``feed pts = received pts + first_pts - offset`` (receivers count from
    the first frame they get), which lets benchmarks match frames end to end.

    :param codec: the codec negotiated for this track's sender (``VP8`` or ``H264``).
    """

    kind = "video"

    def __init__(self, codec: str, capacity: int = VIDEO_QUEUE) -> None:
        super().__init__(capacity)
        self.codec = codec
        self.sent = 0
        self.first_pts: int | None = None  #: the first pts sent
        self.offset = 0  #: added to the current feed's pts
        self._last_pts: int | None = None
        self._need_keyframe = True
        self._rebase = True

    def _attached(self) -> None:
        self._need_keyframe = self._rebase = True  # start at a keyframe, keep timestamps rising

    def deliver(self, frame: EncodedFrame) -> None:
        """Queue one picture (called by the feed)."""
        if self._need_keyframe:
            if not frame.keyframe:
                return
            self._need_keyframe = False
        if len(self._items) >= self._capacity:  # the sender is stuck: start over from a keyframe
            self.dropped += len(self._items)
            self._items.clear()
            self._need_keyframe = not frame.keyframe
            if self._need_keyframe:
                if self.feed is not None:
                    self.feed.request_keyframe(self.codec)
                return
        self._push(frame)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next encoded picture, as a packet aiortc's sender packetizes without re-encoding."""
        frame: EncodedFrame = await self._next_item()
        if self._rebase:
            self._rebase = False
            self.offset = 0 if self._last_pts is None else self._last_pts + SWITCH_GAP - frame.pts
        pts = frame.pts + self.offset
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
            self.offset = pts - frame.pts
        if self.first_pts is None:
            self.first_pts = pts
        self._last_pts = pts
        packet = av.Packet(frame.data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return packet


class AudioRelayTrack(_RelayTrack):
    """An audio track that sends one :class:`AudioFeed`'s frames (each its own copy, on its own
    clock, so aiortc's encoder for this peer sees one continuous stream)."""

    kind = "audio"

    def __init__(self, capacity: int = AUDIO_QUEUE) -> None:
        super().__init__(capacity)
        self._samples = 0

    def deliver(self, frame: av.AudioFrame) -> None:
        """Queue one frame (called by the feed); the oldest goes when the queue is full."""
        if len(self._items) >= self._capacity:
            self._items.popleft()
            self.dropped += 1
        self._push(frame)

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        """The next frame: a copy of the feed's, stamped on this track's own sample clock."""
        source: av.AudioFrame = await self._next_item()
        frame = av.AudioFrame.from_ndarray(source.to_ndarray(), format=source.format.name,
                                           layout=source.layout.name)
        frame.sample_rate = source.sample_rate
        frame.pts = self._samples
        frame.time_base = Fraction(1, source.sample_rate)
        self._samples += source.samples
        return frame


class _CodecLane:
    """One codec's encoder for a feed: the newest picture in, encoded on a thread, out to the
    feed's subscribers in that codec."""

    def __init__(self, feed: VideoFeed, codec: str) -> None:
        self.codec = codec
        self.encoder = SharedEncoder(codec)
        self.pending: FrameBuffer[tuple[Any, int]] = FrameBuffer(1, QueuePolicy.LATEST)
        self.viewers: set[VideoRelayTrack] = set()
        self.task = spawn_supervised(self._run(feed), f"{feed.name}-encode-{codec}", feed.on_failure)

    async def _run(self, feed: VideoFeed) -> None:
        while True:
            try:
                image, pts = await self.pending.get_async()
            except BufferClosed:
                return
            encoded = await asyncio.to_thread(self.encoder.encode, image, pts)
            if encoded is None:
                continue
            feed.encoded += 1
            for viewer in list(self.viewers):
                viewer.deliver(encoded)

    async def close(self) -> None:
        self.pending.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.encoder.close()


class VideoFeed:
    """A stylized stream's pictures, encoded once per codec, for every viewer.

    :param name: for task names and logs.
    :param on_failure: told when an encoder task fails (a bug): the owner ends the stream.
    """

    def __init__(self, name: str, on_failure: FailureHandler) -> None:
        self.name = name
        self.on_failure = on_failure
        self.encoded = 0  #: pictures encoded, all codecs together
        self._lanes: dict[str, _CodecLane] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def viewers(self) -> int:
        """How many tracks play this feed now."""
        return sum(len(lane.viewers) for lane in self._lanes.values())

    @property
    def codecs(self) -> list[str]:
        """The codecs being encoded now."""
        return sorted(self._lanes)

    def offer(self, image: Any, pts: int) -> None:
        """A new stylized picture (RGB array) shown at ``pts`` (90 kHz): every encoder in use
        takes it, replacing one it has not started on."""
        for lane in self._lanes.values():
            lane.pending.put_nowait((image, pts))

    def subscribe(self, track: VideoRelayTrack) -> None:
        """Start sending to ``track`` (from the next keyframe, which is requested)."""
        if self._closed:
            return
        lane = self._lanes.get(track.codec)
        if lane is None:
            lane = self._lanes[track.codec] = _CodecLane(self, track.codec)
        lane.viewers.add(track)
        lane.encoder.request_keyframe()

    def unsubscribe(self, track: VideoRelayTrack) -> None:
        """Stop sending to ``track``; an encoder nobody uses any more is closed."""
        lane = self._lanes.get(track.codec)
        if lane is None:
            return
        lane.viewers.discard(track)
        if not lane.viewers:
            del self._lanes[track.codec]
            closing = asyncio.ensure_future(lane.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def request_keyframe(self, codec: str) -> None:
        """Make ``codec``'s next picture a keyframe."""
        lane = self._lanes.get(codec)
        if lane is not None:
            lane.encoder.request_keyframe()

    async def close(self) -> None:
        """Detach every viewer and stop every encoder (idempotent)."""
        self._closed = True
        for lane in list(self._lanes.values()):
            for track in list(lane.viewers):
                track.detach()
        while self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)


class AudioFeed:
    """A publisher's audio, read continuously and handed to every listener.

    :param name: for the task's name.
    :param on_failure: told when the reading task fails (a bug).
    """

    def __init__(self, name: str, on_failure: FailureHandler) -> None:
        self.name = name
        self._on_failure = on_failure
        self._listeners: set[AudioRelayTrack] = set()
        self.frames = 0

    @property
    def listeners(self) -> int:
        """How many tracks play this feed now."""
        return len(self._listeners)

    def subscribe(self, track: AudioRelayTrack) -> None:
        """Start sending to ``track``."""
        self._listeners.add(track)

    def unsubscribe(self, track: AudioRelayTrack) -> None:
        """Stop sending to ``track``."""
        self._listeners.discard(track)

    async def run(self, track: MediaStreamTrack) -> None:
        """Read ``track`` until it ends (every frame, so nothing piles up in aiortc)."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frames += 1
            for listener in list(self._listeners):
                listener.deliver(frame)  # type: ignore[arg-type]

    def close(self) -> None:
        """Detach every listener (idempotent)."""
        for track in list(self._listeners):
            track.detach()

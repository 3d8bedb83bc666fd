"""Moving a session's incoming media: every video frame to the engine stream, audio echoed or drained.

aiortc queues incoming frames without bound, so every remote track is read continuously
(aiortc #1192): video frames go to the session's ``latest`` engine stream, which keeps at most
one waiting frame and drops older ones; its results are what the outgoing track sends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..errors import EngineClosedError, StyleError
from ..frames import Frame
from ..stream import EngineStream
from .tracks import frame_from_video

__all__ = ["VideoPump", "drain"]


class VideoPump:
    """Reads a remote video track into the session's engine stream.

    :param stream: the session's engine stream (``latest`` policy, capacity 1).
    :param wanted: asked for each frame; frames nobody wants (a stream nobody watches) are
        read (the track never backs up) but not stylized.
    """

    def __init__(self, stream: EngineStream, wanted: Callable[[], bool] | None = None) -> None:
        self._stream = stream
        self._wanted = wanted
        self.latest: Frame | None = None  #: the newest incoming frame
        self.last_frame_at: float | None = None  #: monotonic time of the newest incoming frame

    async def run(self, track: MediaStreamTrack) -> str:
        """Read ``track`` until it ends or the stream closes; return why it stopped."""
        seq = 0
        while True:
            try:
                video = await track.recv()
            except MediaStreamError:
                return "the client's video track ended"
            if self._wanted is not None and not self._wanted():
                self.last_frame_at = time.monotonic()
                continue
            frame = await asyncio.to_thread(frame_from_video, video, seq)  # type: ignore[arg-type]
            seq += 1
            self.latest = frame
            self.last_frame_at = frame.captured_at
            try:
                await self._stream.submit(frame)
            except StyleError:
                continue  # the offer's style is still being applied: nothing to paint with yet
            except EngineClosedError as exc:
                return str(exc)


async def drain(track: MediaStreamTrack) -> int:
    """Read and discard ``track`` until it ends; return how many frames were read."""
    count = 0
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return count
        count += 1

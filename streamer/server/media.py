"""Moving a session's incoming media: every video frame to the engine, audio echoed or drained.

aiortc queues incoming frames without bound, so every remote track is read continuously
(aiortc #1192): video frames go to the session's ``latest`` engine stream, which keeps at most
one waiting frame and drops older ones; stylized results land in a one-slot ``latest``
:class:`~streamer.buffers.FrameBuffer` read by the outgoing track.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..buffers import BufferClosed, FrameBuffer
from ..engine import EngineStream
from ..errors import EngineClosedError, FrameDropped
from ..frames import Frame
from .stats import SessionStats
from .tracks import frame_from_video

__all__ = ["VideoPump", "drain"]

logger = logging.getLogger(__name__)


class VideoPump:
    """Reads a remote video track and feeds the engine; results go to ``results``.

    :param stream: the session's engine stream (``latest`` policy, capacity 1).
    :param results: where stylized frames go (one slot, ``latest``).
    :param stats: counts frames in.
    """

    def __init__(self, stream: EngineStream, results: FrameBuffer[Frame], stats: SessionStats) -> None:
        self._stream = stream
        self._results = results
        self._stats = stats
        self.latest: Frame | None = None  #: the newest incoming frame (for the content embedding)
        self.last_frame_at: float | None = None  #: monotonic time of the newest incoming frame
        self.failed = 0

    async def run(self, track: MediaStreamTrack) -> None:
        """Read ``track`` until it ends or the stream closes."""
        seq = 0
        while True:
            try:
                video = await track.recv()
            except MediaStreamError:
                return
            frame = frame_from_video(video, seq)  # type: ignore[arg-type]
            seq += 1
            self.latest = frame
            self.last_frame_at = frame.captured_at
            self._stats.frames_in.tick()
            try:
                if self._stream.style is None:
                    self._results.put_nowait(frame)  # no style chosen yet: show the camera as is
                    continue
                future = await self._stream.submit(frame)
            except (EngineClosedError, BufferClosed):
                return
            future.add_done_callback(self._deliver)

    def _deliver(self, future: Future[Frame]) -> None:
        """Runs on whichever thread finished the frame (usually the inference thread)."""
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            try:
                self._results.put_nowait(future.result())
            except BufferClosed:
                pass
        elif not isinstance(error, FrameDropped | EngineClosedError):
            self.failed += 1
            logger.warning("stylizing a frame failed: %s", error)


async def drain(track: MediaStreamTrack) -> int:
    """Read and discard ``track`` until it ends; return how many frames were read."""
    count = 0
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return count
        count += 1


"""The stylized video track a session sends back, and conversions between aiortc and :class:`Frame`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from fractions import Fraction

from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, MediaStreamTrack
from av import VideoFrame

from ..errors import EngineClosedError
from ..frames import Frame
from ..pixels import rgb_from_video, video_from_rgb
from ..stream import EngineStream

__all__ = ["RtpClock", "StylizedTrack", "frame_from_video"]


def frame_from_video(video: VideoFrame, seq: int) -> Frame:
    """Convert a decoded WebRTC frame to an RGB :class:`Frame` (arrival time = now)."""
    time_base = Fraction(video.time_base) if video.time_base is not None else None
    return Frame(rgb_from_video(video), pts=video.pts, time_base=time_base, seq=seq, captured_at=time.monotonic())


class RtpClock:
    """Stylized frames' times on the 90 kHz RTP clock: each frame's own time (the camera's
    timing, with gaps where frames were dropped), else its arrival time; always increasing."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._last: int | None = None
        self.first: int | None = None  #: the first pts handed out

    def pts(self, frame: Frame) -> int:
        """The pts to send ``frame`` with."""
        if frame.time is not None:
            pts = int(round(frame.time * VIDEO_TIME_BASE.denominator))
        else:
            pts = int((frame.captured_at - self._started) * VIDEO_TIME_BASE.denominator)
        if self._last is not None and pts <= self._last:
            pts = self._last + 1
        if self.first is None:
            self.first = pts
        self._last = pts
        return pts


class StylizedTrack(MediaStreamTrack):
    """A video track that sends the results of an engine stream, as they arrive.

    The sender calls :meth:`recv` at its own pace; each call returns the newest result (the
    stream counts it out and measures its latency). The timestamps of the incoming frames are
    kept, so the receiver sees the camera's timing (with gaps where frames were dropped). The
    track ends with the stream; if the engine failed, ``on_failure`` is told why.

    :param stream: the session's engine stream, opened with a results buffer.
    :param on_failure: called with the :class:`~streamer.errors.EngineClosedError` that ended it.
    """

    kind = "video"

    def __init__(self, stream: EngineStream,
                 on_failure: Callable[[EngineClosedError], None] | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._on_failure = on_failure
        self._clock = RtpClock()

    async def recv(self) -> VideoFrame:
        """The next stylized frame; raises :class:`MediaStreamError` once the session ended."""
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame = await self._stream.next_result()
        except EngineClosedError as exc:
            self.stop()
            if self._on_failure is not None:
                self._on_failure(exc)
            raise MediaStreamError from None
        if frame is None:
            self.stop()
            raise MediaStreamError
        video = await asyncio.to_thread(video_from_rgb, frame.image)  # ~2-6 ms at 640x480: off the loop
        video.pts = self._clock.pts(frame)
        video.time_base = VIDEO_TIME_BASE
        return video

    @property
    def first_pts(self) -> int | None:
        """pts of the first frame sent (receivers count from it)."""
        return self._clock.first

"""The stylized video track a session sends back, and conversions between aiortc and :class:`Frame`."""

from __future__ import annotations

import time
from fractions import Fraction

from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, MediaStreamTrack
from av import VideoFrame

from ..buffers import BufferClosed, FrameBuffer
from ..frames import Frame
from ..pixels import rgb_from_video, video_from_rgb
from .stats import SessionStats

__all__ = ["StylizedTrack", "frame_from_video"]


def frame_from_video(video: VideoFrame, seq: int) -> Frame:
    """Convert a decoded WebRTC frame to an RGB :class:`Frame` (arrival time = now)."""
    time_base = Fraction(video.time_base) if video.time_base is not None else None
    return Frame(rgb_from_video(video), pts=video.pts, time_base=time_base, seq=seq, captured_at=time.monotonic())


class StylizedTrack(MediaStreamTrack):
    """A video track that sends what arrives in ``results`` (stylized frames), as it arrives.

    The sender calls :meth:`recv` at its own pace; each call returns the newest result. The
    timestamps of the incoming frames are kept, so the receiver sees the camera's timing (with
    gaps where frames were dropped). Closing ``results`` ends the track.

    :param results: stylized frames, filled from the inference thread.
    :param stats: where frames out and their latency are counted.
    """

    kind = "video"

    def __init__(self, results: FrameBuffer[Frame], stats: SessionStats) -> None:
        super().__init__()
        self._results = results
        self._stats = stats
        self._last_pts: int | None = None
        self._started = time.monotonic()
        self.first_pts: int | None = None  #: pts of the first frame sent (receivers count from it)

    async def recv(self) -> VideoFrame:
        """The next stylized frame; raises :class:`MediaStreamError` once the session ended."""
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame = await self._results.get_async()
        except BufferClosed:
            self.stop()
            raise MediaStreamError from None
        video = video_from_rgb(frame.image)
        video.pts = self._next_pts(frame)
        video.time_base = VIDEO_TIME_BASE
        self._stats.frames_out.tick()
        self._stats.record_latency(time.monotonic() - frame.captured_at)
        return video

    def _next_pts(self, frame: Frame) -> int:
        """The frame's own time on the 90 kHz clock, forced to increase."""
        if frame.time is not None:
            pts = int(round(frame.time * VIDEO_TIME_BASE.denominator))
        else:
            pts = int((frame.captured_at - self._started) * VIDEO_TIME_BASE.denominator)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        if self.first_pts is None:
            self.first_pts = pts
        self._last_pts = pts
        return pts

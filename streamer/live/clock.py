"""One clock for a live session: source timestamps mapped onto time since the session started.

Sources restart their own clocks (a reconnect, a looping file) and some have none (cameras).
:class:`Timeline` maps every frame and audio packet onto one increasing clock, so recordings
and published streams get monotonic timestamps and audio stays in step with video.
"""

from __future__ import annotations

import time
from fractions import Fraction

from ..frames import Frame

__all__ = ["TIME_BASE", "Timeline"]

#: time base of every frame leaving the capture thread (the RTP/MPEG clock)
TIME_BASE = Fraction(1, 90000)


class Timeline:
    """Maps source times (seconds) onto seconds since ``start``, per segment.

    A segment is a stretch of the source with a continuous clock; call :meth:`new_segment`
    after a reconnect or when a file starts over. Within a segment, time = source time + an
    offset fixed by the segment's first timed frame or packet (so the source's own pacing is
    kept); frames without a source time use their capture time.

    .. code-block:: python

        timeline = Timeline()
        frame = timeline.stamp(frame)   # pts in TIME_BASE units, strictly increasing
    """

    def __init__(self, start: float | None = None) -> None:
        self.start = time.monotonic() if start is None else start
        self.segment = 0
        self._offset: float | None = None
        self._last_video = -1
        self._last_audio: dict[int, int] = {}

    def new_segment(self) -> int:
        """Start a new segment (its first frame re-anchors the clock); returns its number."""
        self.segment += 1
        self._offset = None
        return self.segment

    def _time(self, source_time: float | None, captured_at: float) -> float:
        arrival = captured_at - self.start
        if source_time is None:
            return arrival
        if self._offset is None:  # the segment's first timed item anchors it
            self._offset = arrival - source_time
        return source_time + self._offset

    def video_time(self, frame: Frame) -> float:
        """Seconds since start for ``frame`` (its capture time if it has no timestamp)."""
        return self._time(frame.time, frame.captured_at)

    def stamp(self, frame: Frame) -> Frame:
        """``frame`` with ``pts``/``time_base`` on this clock (strictly after the previous one)."""
        pts = max(round(self.video_time(frame) * TIME_BASE.denominator), self._last_video + 1)
        self._last_video = pts
        frame.pts, frame.time_base = pts, TIME_BASE
        return frame

    def audio_pts(self, source_time: float | None, captured_at: float, time_base: Fraction,
                  stream: int = 0) -> int | None:
        """A packet's pts (in ``time_base`` units) on this clock, or None to drop it: it has no
        time, comes before the session started, or would go backwards."""
        if source_time is None or not time_base:
            return None
        pts = round(self._time(source_time, captured_at) / time_base)
        if pts < 0 or pts <= self._last_audio.get(stream, -1):
            return None
        self._last_audio[stream] = pts
        return pts

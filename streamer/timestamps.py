"""Timestamps and durations of video frames in files: read faithfully, written faithfully.

Reading (:class:`FrameClock`): what a decoder returns is turned into strictly increasing
presentation timestamps. Most containers carry real presentation timestamps (``pts``) and they
are kept as they are. AVI has none: a chunk's place in the file is its time. FFmpeg invents
presentation timestamps for it (decode time + the codec's reorder delay, so H.264 video starts
one or two frames late; with B-frames the values come out shuffled), so for AVI, and wherever the
presentation timestamps do not increase, the decode timestamps (``dts``) are used, shifted so
the first frame starts where the stream starts (audio and video stay aligned). With neither,
frames are numbered at the nominal frame rate. A single out-of-order or missing timestamp later
on is repaired (previous + one frame interval) and counted.

Writing (:func:`last_packet_duration` and :class:`PacketDurations`): encoders do not carry
frame durations to their packets, so the writer gives every packet the duration of its frame
(the distance to the next frame's timestamp; the last frame keeps the input's). MP4/MOV store
durations as differences of decode timestamps and take the end of the track from the last
packet in decode order, which with B-frames is not the last frame shown: that packet's
duration is set so the track ends where the input ended.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from fractions import Fraction

import av

__all__ = [
    "FrameClock",
    "PacketDurations",
    "TimestampSource",
    "choose_timestamp_source",
    "last_packet_duration",
    "nominal_interval",
    "stores_dts_durations",
]


class TimestampSource(enum.StrEnum):
    """Where a file's frame timestamps come from."""

    PTS = "pts"  #: the frames' own presentation timestamps (nearly every container)
    DTS = "dts"  #: decode timestamps shifted to the stream start (AVI and other containers without pts)
    COUNT = "count"  #: frame number x nominal interval (no usable timestamps at all)


def _strictly_increasing(values: Sequence[int | None]) -> bool:
    return all(v is not None for v in values) and all(
        b > a for a, b in zip(values, values[1:], strict=False))  # type: ignore[operator]


#: demuxers whose presentation timestamps are made up (see the module docstring)
_NO_PTS_FORMATS = frozenset({"avi"})


def choose_timestamp_source(pts: Sequence[int | None], dts: Sequence[int | None],
                            container_format: str = "") -> TimestampSource:
    """Pick the timestamp source from the first decoded frames' ``pts`` and ``dts``.

    Decoders return frames in presentation order, so real presentation timestamps increase.
    ``container_format`` is the demuxer's name (``container.format.name``).
    """
    trust_pts = not _NO_PTS_FORMATS.intersection(container_format.split(","))
    if trust_pts and pts and _strictly_increasing(pts):
        return TimestampSource.PTS
    if dts and _strictly_increasing(dts):
        return TimestampSource.DTS
    return TimestampSource.COUNT


def nominal_interval(rate: Fraction | None, time_base: Fraction) -> int:
    """One frame interval in ``time_base`` units at ``rate`` (at least 1)."""
    if not rate or rate <= 0:
        return 1
    return max(1, round(1 / (rate * time_base)))


class FrameClock:
    """Strictly increasing presentation timestamps for decoded frames, in the stream's time base.

    :param source: where the timestamps come from (see :func:`choose_timestamp_source`).
    :param start: the stream's start time (``DTS`` and ``COUNT`` modes begin there).
    :param interval: nominal frame interval, used to number frames and to repair gaps.
    """

    def __init__(self, source: TimestampSource, start: int, interval: int) -> None:
        self.source = source
        self.start = start
        self.interval = max(1, interval)
        self.repaired = 0  #: timestamps that were missing or out of order and were replaced
        self.last: int | None = None
        self._dts_shift: int | None = None
        self._count = 0

    def stamp(self, pts: int | None, dts: int | None) -> int:
        """The presentation timestamp to use for the next frame (decoder order)."""
        if self.source is TimestampSource.PTS:
            wanted = pts
        elif self.source is TimestampSource.DTS:
            if dts is not None and self._dts_shift is None:
                self._dts_shift = dts - self.start
            wanted = None if dts is None or self._dts_shift is None else dts - self._dts_shift
        else:
            wanted = self.start + self._count * self.interval
        self._count += 1
        if self.last is not None and (wanted is None or wanted <= self.last):
            if self.source is TimestampSource.PTS or wanted is not None:
                self.repaired += 1  # missing dts at the decoder flush is normal, not a repair
            wanted = self.last + self.interval
        elif wanted is None:
            wanted = self.start
        self.last = wanted
        return wanted


#: muxers that store sample durations as decode-timestamp differences (the track ends with the
#: last packet in decode order)
_DTS_DURATION_FORMATS = frozenset({"mp4", "mov", "3gp", "3g2", "ipod", "psp", "ismv", "f4v"})


def stores_dts_durations(container_format: str) -> bool:
    """True for MP4/MOV-style muxers (``container.format.name`` may list several names)."""
    return any(name in _DTS_DURATION_FORMATS for name in container_format.split(","))


def last_packet_duration(end: int, first_pts: int, first_dts: int, last_dts: int) -> int | None:
    """Duration for the last packet (decode order) of an MP4/MOV track so it ends at ``end``.

    The track's length is ``last_dts - first_dts + duration`` and must equal ``end - first_pts``
    (the edit list starts the presentation at the first frame). ``None`` when that is impossible.
    """
    duration = (end - first_pts) - (last_dts - first_dts)
    return duration if duration > 0 else None


class PacketDurations:
    """Gives each encoded video packet the duration of the frame it holds (matched by ``pts``).

    :param dts_durations: the muxer stores durations as dts differences (MP4/MOV): the last
        packet is then held back by :meth:`packet` and fixed by :meth:`last`.
    """

    def __init__(self, dts_durations: bool) -> None:
        self.dts_durations = dts_durations
        self._by_pts: dict[int, int] = {}
        self._first_pts: int | None = None
        self._first_dts: int | None = None

    def frame(self, pts: int, duration: int) -> None:
        """A frame with this timestamp and duration goes into the encoder."""
        if self._first_pts is None:
            self._first_pts = pts
        self._by_pts[pts] = duration

    def packet(self, packet: av.Packet) -> None:
        """Set ``packet.duration`` from its frame (the encoder leaves it 0)."""
        if packet.pts is not None and packet.pts in self._by_pts:
            packet.duration = self._by_pts.pop(packet.pts)
        if self._first_dts is None and packet.dts is not None:
            self._first_dts = packet.dts

    def last(self, packet: av.Packet, end: int) -> None:
        """Fix the duration of the stream's last packet (decode order) so the track ends at ``end``."""
        if not self.dts_durations or None in (self._first_pts, self._first_dts, packet.dts):
            return
        assert self._first_pts is not None and self._first_dts is not None and packet.dts is not None
        duration = last_packet_duration(end, self._first_pts, self._first_dts, packet.dts)
        if duration is not None:
            packet.duration = duration

"""Cutting a video into chunks that workers can stylize independently (driver side).

A chunk starts at a *clean* keyframe: a keyframe a decoder can start at (:mod:`.entry`: not
an H.264 I-frame that is neither IDR nor an exact recovery point) after which no packet shows
an earlier picture (no open-GOP leading pictures), so decoding the chunk on its own gives
exactly the frames a decoder of the whole file gives. A chunk travels as its compressed packets in a
small in-memory NUT file (codec parameters copied, no re-encoding) timestamped by their place
(decode order, presentation order); the real timestamps, the frames' orientation and where the
chunk's last frame ends travel beside it and are put back on the worker, so chunks keep the
single-process timing and rotation.

Only files the single-process reader stamps with their own presentation timestamps, all
distinct, and that show no sign of damage while their packets are read, are cut; any other
file goes to one worker whole, where the same reader as without Ray reads it (timing rules,
damage report and all).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
from av.video.stream import VideoStream

from ..errors import DecodeError, media_errors, media_library_errors
from ..frames import Frame
from ..sources.media import MediaReader, VideoInfo
from ..sources.orientation import Orientation
from ..timestamps import TimestampSource, nominal_interval
from .entry import Entry, entry_of

__all__ = ["ChunkInput", "PacketInfo", "VideoPlan", "auto_chunk_seconds", "chunk_inputs", "plan_video",
           "split_points"]

#: time base of the positions written into a chunk's transport file (one tick per packet)
_TRANSPORT_TIME_BASE = Fraction(1, 1000)
#: chunk length bounds for the automatic choice: shorter chunks cost more than they spread
MIN_AUTO_SECONDS = 2.0
MAX_AUTO_SECONDS = 60.0


@dataclass(frozen=True)
class PacketInfo:
    """What splitting needs to know about one video packet (decode order)."""

    pts: int | None
    keyframe: bool
    discard: bool = False
    duration: int = 0
    entry: Entry = Entry.RESET  #: how a decoder may start here (a keyframe's)


@dataclass(frozen=True)
class ChunkInput:
    """One chunk's compressed video, as sent to a worker.

    :param data: a NUT file with the chunk's packets, or the whole source file (``pts`` None).
    :param pts: the real timestamps of the chunk's frames in presentation order; None: the data
        is the whole file and keeps its own.
    :param end_pts: where the chunk's last frame ends (the next chunk's first frame, or the
        file's end); None for a whole file (its reader finds it).
    :param orientation: how the file's frames are turned (a NUT piece may not say).
    :param video_stream: the video stream to read in a whole file (the one the driver planned).
    :param delay: ticks between the transport's decode and presentation positions.
    :param entry: how its first packet lets a decoder start (:class:`~.entry.Entry`).
    """

    index: int
    data: bytes
    pts: tuple[int, ...] | None
    time_base: Fraction
    name: str
    end_pts: int | None = None
    orientation: Orientation | None = None
    video_stream: int | None = None
    delay: int = 0
    entry: Entry = Entry.RESET

    @property
    def frames(self) -> int | None:
        """Frames this chunk decodes to (None for a whole file: only decoding tells)."""
        return None if self.pts is None else len(self.pts)

    def restore_timing(self, frame: Frame) -> int:
        """Put the source's timestamp back on a decoded ``frame``; return its place in the chunk."""
        if self.pts is None:
            return frame.seq
        if frame.pts is None or frame.time_base is None:
            raise DecodeError(f"{self.name}: chunk {self.index} decoded a frame without a timestamp")
        rank = round(frame.pts * frame.time_base / _TRANSPORT_TIME_BASE) - self.delay
        if not 0 <= rank < len(self.pts):
            raise DecodeError(f"{self.name}: chunk {self.index} decoded an unexpected frame")
        frame.pts, frame.time_base = self.pts[rank], self.time_base
        return rank


@dataclass(frozen=True)
class VideoPlan:
    """How one video file is cut: its description and each chunk's first packet."""

    source: Path
    info: VideoInfo
    starts: tuple[int, ...] | None  #: packet index of each chunk's start; None: sent whole
    packets: int
    start_pts: tuple[int, ...] = ()  #: each chunk's first timestamp (its clean keyframe's)
    start_entries: tuple[Entry, ...] = ()  #: how each chunk's keyframe lets a decoder start
    end_pts: int | None = None  #: where the video ends, as the single-process reader finds it
    notices: tuple[str, ...] = ()  #: the reader's (streams left out, orientation applied...)
    why_whole: str | None = None  #: why the file is not cut (None: cut, or too short to cut)

    def whole(self, why: str) -> VideoPlan:
        """This plan with the file sent to one worker whole."""
        return replace(self, starts=None, start_pts=(), start_entries=(), why_whole=why)

    @property
    def chunks(self) -> int:
        """Number of chunks (1 when sent whole)."""
        return 1 if self.starts is None else len(self.starts)


def auto_chunk_seconds(duration: float | None, files: int, slots: int) -> float:
    """Chunk length that gives every worker slot about four chunks over all ``files``."""
    if not duration:
        return MAX_AUTO_SECONDS
    per_file = max(1, -(-4 * slots // max(files, 1)))
    return min(MAX_AUTO_SECONDS, max(MIN_AUTO_SECONDS, duration / per_file))


def split_points(packets: Sequence[PacketInfo], time_base: Fraction, seconds: float) -> tuple[int, ...] | None:
    """Indices of the packets where chunks of at least ``seconds`` begin (the first is 0).

    Returns None when the stream cannot be cut safely (missing timestamps, packets the
    demuxer marks to discard) or ``seconds`` is 0: the file then goes to one worker whole.
    Keyframes a decoder cannot start at (:attr:`Entry.NONE`) are never cuts.
    """
    if seconds <= 0 or not packets or any(p.pts is None or p.discard for p in packets):
        return None
    gop_starts = [i for i, p in enumerate(packets) if p.keyframe and i > 0]
    bounds = [0, *gop_starts, len(packets)]
    starts = [0]
    chunk_pts = _pts(packets[0])
    for begin, end in zip(bounds[1:-1], bounds[2:], strict=True):
        head = _pts(packets[begin])
        clean = packets[begin].entry is not Entry.NONE and all(_pts(p) >= head for p in packets[begin + 1:end])
        if clean and (head - chunk_pts) * time_base >= seconds:
            starts.append(begin)
            chunk_pts = head
    return tuple(starts)


def _pts(packet: PacketInfo) -> int:
    assert packet.pts is not None  # split_points checked
    return packet.pts


def plan_video(source: Path, seconds: float | None, files: int = 1, slots: int = 1,
               video_stream: int | None = None) -> VideoPlan:
    """Describe ``source`` as the single-process reader does, read its video packets (no
    decoding) and choose the chunks.

    ``seconds`` None picks :func:`auto_chunk_seconds`; 0 never cuts.

    :raises SourceOpenError, DecodeError: the file cannot be opened or has no decodable video.
    """
    with MediaReader(source, video_stream=video_stream) as reader:
        info = reader.open()
        notices, report = tuple(reader.notices), reader.report
    packets, damage = _scan_video(source, info.stream_index)
    if not packets:
        raise DecodeError(f"{source.name} has no video packets")
    last = max(packets, key=lambda p: p.pts if p.pts is not None else -1)
    end_pts: int | None = None
    if last.pts is not None:
        end_pts = last.pts + (last.duration if last.duration > 0 else nominal_interval(info.rate, info.time_base))
        intact = damage is None and not replace(report, frames=len(packets),
                                                decoded_end=float(end_pts * info.time_base)).cut_short
        if intact and report.declared_end is not None and report.declared_end_is_video:
            declared = round(report.declared_end / info.time_base)
            if declared > last.pts:  # the input's own end, as the reader takes it
                end_pts = declared
        if damage is None and not intact:
            damage = "the file ends early"
    plan = VideoPlan(source, info, None, len(packets), end_pts=end_pts, notices=notices)
    length = auto_chunk_seconds(info.duration, files, slots) if seconds is None else seconds
    if damage is not None:
        return plan.whole(f"damaged ({damage})")
    if info.timestamps is not TimestampSource.PTS:
        return plan.whole(f"frame times come from {info.timestamps.value}")
    if len({p.pts for p in packets}) != len(packets):
        return plan.whole("frame timestamps repeat")
    starts = split_points(packets, info.time_base, length)
    if starts is None:
        return plan
    return replace(plan, starts=starts, start_pts=tuple(_pts(packets[i]) for i in starts),
                   start_entries=tuple(packets[i].entry for i in starts))


def _scan_video(source: Path, index: int) -> tuple[list[PacketInfo], str | None]:
    """The video stream's packets, and the first sign of damage (unreadable, corrupt) or None."""
    packets: list[PacketInfo] = []
    with media_errors(f"cannot open {source.name}"), av.open(str(source)) as container:
        stream = container.streams[index]
        codec, extradata = stream.codec_context.name, stream.codec_context.extradata
        try:
            for p in container.demux(stream):
                if p.size:
                    if p.is_corrupt:
                        return packets, "corrupt packets"
                    entry = entry_of(codec, extradata, bytes(p)) if p.is_keyframe else Entry.RESET
                    packets.append(PacketInfo(p.pts, p.is_keyframe, p.is_discard, p.duration or 0, entry))
        except media_library_errors() as exc:
            return packets, f"unreadable: {exc}"
    return packets, None


async def chunk_inputs(plan: VideoPlan) -> AsyncGenerator[ChunkInput, None]:
    """The chunks of ``plan``, read from the file one after another (close with ``aclose``)."""
    name, info = plan.source.name, plan.info
    if plan.starts is None:
        with media_errors(f"cannot read {name}"):
            data = await asyncio.to_thread(plan.source.read_bytes)
        yield ChunkInput(0, data, None, info.time_base, name, video_stream=info.stream_index)
        return
    ends = (*plan.start_pts[1:], plan.end_pts)
    pieces = _transport_pieces(plan)
    try:
        for index, end in enumerate(ends):
            piece = await asyncio.to_thread(next, pieces, None)
            if piece is None:
                raise DecodeError(f"{name} changed while it was being converted")
            data, pts, delay = piece
            yield ChunkInput(index, data, pts, info.time_base, name, end, info.orientation, delay=delay,
                             entry=plan.start_entries[index])
    finally:
        await asyncio.shield(asyncio.to_thread(pieces.close))


def _transport_pieces(plan: VideoPlan) -> Generator[tuple[bytes, tuple[int, ...], int], None, None]:
    """Each chunk's transport file, its frames' timestamps (presentation order) and its delay."""
    assert plan.starts is not None
    sizes = [end - start for start, end in zip(plan.starts, (*plan.starts[1:], plan.packets), strict=True)]
    with media_errors(f"cannot read {plan.source.name}"), av.open(str(plan.source)) as container:
        stream = container.streams[plan.info.stream_index]
        assert isinstance(stream, VideoStream)
        chunk: list[av.Packet] = []
        for packet in container.demux(stream):
            if not packet.size:
                continue
            chunk.append(packet)
            if len(chunk) == sizes[0]:
                yield _transport(stream, chunk)
                chunk, sizes = [], sizes[1:]
                if not sizes:
                    return


def _transport(template: VideoStream, packets: list[av.Packet]) -> tuple[bytes, tuple[int, ...], int]:
    """The packets in a NUT file with the same codec parameters, timestamped by place.

    A packet's decode time is its place in the chunk, its presentation time its frame's place in
    presentation order plus the delay that keeps every decode time at or before its picture.
    """
    real = [int(p.pts or 0) for p in packets]  # never None here: plan_video checked
    order = sorted(range(len(real)), key=real.__getitem__)
    rank = [0] * len(real)
    for place, position in enumerate(order):
        rank[position] = place
    delay = max(0, *(position - r for position, r in enumerate(rank)))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="nut") as container:
        stream = container.add_stream_from_template(template)
        stream.time_base = _TRANSPORT_TIME_BASE
        for position, packet in enumerate(packets):
            packet.stream = stream
            packet.dts, packet.pts = position, rank[position] + delay
            packet.duration = 1
            packet.time_base = _TRANSPORT_TIME_BASE
            container.mux(packet)
    return buffer.getvalue(), tuple(sorted(real)), delay

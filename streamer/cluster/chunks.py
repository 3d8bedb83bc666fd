"""Cutting a video into chunks that workers can stylize independently (driver side).

A chunk starts at a *clean* keyframe: a keyframe after which no packet shows an earlier
picture (no open-GOP leading pictures), so decoding the chunk on its own gives exactly the
frames a decoder of the whole file gives. A chunk travels as its compressed packets in a
small in-memory NUT file (codec parameters copied, no re-encoding) whose timestamps are the
packets' positions; the real timestamps travel beside it and are put back on the worker.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import DecodeError, media_errors
from ..frames import Frame
from ..sources.media import MediaReader, VideoInfo

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


@dataclass(frozen=True)
class ChunkInput:
    """One chunk's compressed video, as sent to a worker.

    :param data: a NUT file with the chunk's packets, or the whole source file (``pts`` None).
    :param pts: the real timestamp of each packet, by position; None: the data keeps its own.
    """

    index: int
    data: bytes
    pts: tuple[int, ...] | None
    time_base: Fraction
    name: str

    @property
    def frames(self) -> int | None:
        """Frames this chunk decodes to (None for a whole file: only decoding tells)."""
        return None if self.pts is None else len(self.pts)

    def restore_timing(self, frame: Frame) -> int:
        """Put the source's timestamp back on a decoded ``frame``; return its position."""
        if self.pts is None:
            return frame.seq
        if frame.pts is None or frame.time_base is None:
            raise DecodeError(f"{self.name}: chunk {self.index} decoded a frame without a timestamp")
        position = round(frame.pts * frame.time_base / _TRANSPORT_TIME_BASE)
        if not 0 <= position < len(self.pts):
            raise DecodeError(f"{self.name}: chunk {self.index} decoded an unexpected frame")
        frame.pts, frame.time_base = self.pts[position], self.time_base
        return position


@dataclass(frozen=True)
class VideoPlan:
    """How one video file is cut: its description and each chunk's first packet."""

    source: Path
    info: VideoInfo
    starts: tuple[int, ...] | None  #: packet index of each chunk's start; None: sent whole
    packets: int

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
    """
    if seconds <= 0 or not packets or any(p.pts is None or p.discard for p in packets):
        return None
    gop_starts = [i for i, p in enumerate(packets) if p.keyframe and i > 0]
    bounds = [0, *gop_starts, len(packets)]
    starts = [0]
    chunk_pts = _pts(packets[0])
    for begin, end in zip(bounds[1:-1], bounds[2:], strict=True):
        head = _pts(packets[begin])
        clean = all(_pts(p) >= head for p in packets[begin + 1:end])
        if clean and (head - chunk_pts) * time_base >= seconds:
            starts.append(begin)
            chunk_pts = head
    return tuple(starts)


def _pts(packet: PacketInfo) -> int:
    assert packet.pts is not None  # split_points checked
    return packet.pts


def plan_video(source: Path, seconds: float | None, files: int = 1, slots: int = 1) -> VideoPlan:
    """Read ``source``'s video packets (no decoding) and choose the chunks.

    ``seconds`` None picks :func:`auto_chunk_seconds`; 0 never cuts.

    :raises SourceOpenError, DecodeError: the file cannot be opened or demuxed.
    """
    with MediaReader(source) as reader:
        info = reader.open()
        packets = [PacketInfo(p.pts, p.is_keyframe, p.is_discard) for p in reader.packets(others=False)]
    if not packets:
        raise DecodeError(f"{source.name} has no video packets")
    length = auto_chunk_seconds(info.duration, files, slots) if seconds is None else seconds
    return VideoPlan(source, info, split_points(packets, info.time_base, length), len(packets))


async def chunk_inputs(plan: VideoPlan) -> AsyncGenerator[ChunkInput, None]:
    """The chunks of ``plan``, read from the file one after another (close with ``aclose``)."""
    name = plan.source.name
    if plan.starts is None:
        with media_errors(f"cannot read {name}"):
            data = await asyncio.to_thread(plan.source.read_bytes)
        yield ChunkInput(0, data, None, plan.info.time_base, name)
        return
    sizes = [end - start for start, end in zip(plan.starts, (*plan.starts[1:], plan.packets), strict=True)]
    reader = MediaReader(plan.source)
    try:
        await asyncio.to_thread(reader.open)
        reader.start(decode=False, others=False)
        chunk: list[av.Packet] = []
        async for packet in reader.items():
            assert isinstance(packet, av.Packet)  # decode=False: nothing is decoded
            chunk.append(packet)
            if len(chunk) == sizes[0]:
                pts = tuple(int(p.pts or 0) for p in chunk)  # before _transport renumbers them (never None here)
                data = await asyncio.to_thread(_transport, reader.video_stream, chunk)
                yield ChunkInput(len(plan.starts) - len(sizes), data, pts, plan.info.time_base, name)
                chunk, sizes = [], sizes[1:]
                if not sizes:
                    return
        raise DecodeError(f"{name} changed while it was being converted")
    finally:
        await asyncio.shield(asyncio.to_thread(reader.close))


def _transport(template: Any, packets: list[av.Packet]) -> bytes:
    """The packets in a NUT file with the same codec parameters, timestamped by position."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="nut") as container:
        stream = container.add_stream_from_template(template)
        stream.time_base = _TRANSPORT_TIME_BASE
        for position, packet in enumerate(packets):
            packet.stream = stream
            packet.pts = packet.dts = position
            packet.time_base = _TRANSPORT_TIME_BASE
            container.mux(packet)
    return buffer.getvalue()

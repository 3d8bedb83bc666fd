"""Joining stylized chunks into the destination file without re-encoding (driver side).

The chunks' packets are muxed in order by the same :class:`~streamer.sinks.file.MediaWriter`
as a single-process conversion (temporary file, renamed when complete, the track ending where
the source's video ends), and the source's audio and subtitle packets are copied once,
interleaved by time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from fractions import Fraction
from pathlib import Path

import av

from ..errors import SinkError
from ..sinks.file import EncodedPacket, EncoderSettings, MediaWriter
from ..sources.media import MediaReader, VideoInfo
from .worker import EncodedChunk

__all__ = ["ChunkJoiner", "fit_dts"]


def fit_dts(packets: Sequence[EncodedPacket], after: int | None) -> list[EncodedPacket]:
    """``packets`` of one chunk with decode timestamps that follow ``after`` (the previous chunk's last).

    An encoder with B-frames starts each chunk's decode timestamps a few frames before its first
    picture; with irregular frame times these can fall on or before the previous chunk's last.
    Only those leading timestamps move, evenly into the gap, and stay before their pictures.

    :raises SinkError: the gap cannot hold them (the chunks overlap in time).
    """
    out = list(packets)
    pts = [p.pts for p in out]
    dts = [p.dts for p in out]
    if after is None or not out or None in pts or None in dts or dts[0] > after:  # type: ignore[operator]
        return out
    first_pts = min(int(t or 0) for t in pts)
    lead = next((i for i, t in enumerate(dts) if int(t or 0) >= first_pts), len(out))
    step = (first_pts - after - 1) // max(lead, 1)
    if lead == 0 or step < 1:
        raise SinkError("stylized chunks overlap in time; cannot join them")
    for i in range(lead):
        out[i] = out[i]._replace(dts=first_pts - (lead - i) * step)
    return out


class ChunkJoiner:
    """Writes encoded chunks, in order, and the source's other streams into ``destination``.

    .. code-block:: python

        joiner = ChunkJoiner(source, destination, info, settings)
        await joiner.open()
        for chunk in chunks:           # in order
            await joiner.append(chunk)
        await joiner.finish(end_pts)   # or abort() on any failure
    """

    def __init__(self, source: Path, destination: Path, info: VideoInfo, settings: EncoderSettings | None,
                 video_stream: int | None = None) -> None:
        self.source, self.destination, self.info = source, destination, info
        self._settings = settings
        self._reader = MediaReader(source, video_stream=video_stream)
        self._writer: MediaWriter | None = None
        self._others: AsyncIterator[object] | None = None
        self._held: av.Packet | None = None  # the next pass-through packet, read ahead
        self._extradata: bytes | None = None
        self._last_dts: int | None = None
        self._next_index = 0
        self.frames = 0

    async def open(self) -> None:
        """Open the source's other streams and the destination's temporary file."""
        try:
            await asyncio.to_thread(self._reader.open)
            writer = MediaWriter(self.destination, self.info.width, self.info.height, self.info.time_base,
                                 self.info.rate, self._reader.copy_streams, self._settings)
            self._writer = writer
            await asyncio.to_thread(writer.open)
            self._extradata = await asyncio.to_thread(writer.video_extradata)
            self._reader.start(video=False)
            self._others = self._reader.items()
        except BaseException:
            await asyncio.shield(self.abort())
            raise

    @property
    def notices(self) -> list[str]:
        """What the writer re-encoded or left out, and why."""
        return self._writer.notices if self._writer is not None else []

    async def append(self, chunk: EncodedChunk) -> None:
        """Write the next chunk (and the other streams' packets up to its end)."""
        writer = self._require_writer()
        if chunk.index != self._next_index:
            raise SinkError(f"{self.source.name}: chunk {chunk.index} arrived instead of {self._next_index}")
        if chunk.extradata != self._extradata:
            raise SinkError(f"{self.source.name}: chunk {chunk.index} was encoded with other encoder settings "
                            "than this machine's (different FFmpeg or encoder versions on the workers?)")
        packets = fit_dts(chunk.packets, self._last_dts)
        if packets:
            end = max(int(p.pts or 0) + p.duration for p in packets)
            await self._copy_others(Fraction(end) * self.info.time_base)
        for packet in packets:
            await writer.write_async(packet)
        if packets:
            self._last_dts = packets[-1].dts
        self.frames += chunk.frames
        self._next_index += 1

    async def finish(self, end_pts: int | None = None) -> Path:
        """Copy the rest of the other streams, finalize and move the file into place.

        :param end_pts: where the video ends (:attr:`info` time base), as for :meth:`MediaWriter.finish`.
        """
        writer = self._require_writer()
        try:
            await self._copy_others(None)
            await asyncio.to_thread(writer.finish, end_pts)
        except BaseException:
            await asyncio.shield(self.abort())
            raise
        await asyncio.to_thread(self._reader.close)
        return self.destination

    async def abort(self) -> None:
        """Delete the temporary file and close the source. Idempotent."""
        if self._writer is not None:
            await asyncio.to_thread(self._writer.abort)
        await asyncio.to_thread(self._reader.close)

    def _require_writer(self) -> MediaWriter:
        if self._writer is None:
            raise SinkError(f"{self.destination.name} is not open")
        return self._writer

    async def _copy_others(self, until: Fraction | None) -> None:
        """Write pass-through packets that start before ``until`` seconds (None: all)."""
        writer = self._require_writer()
        while self._others is not None:
            if self._held is None:
                try:
                    item = await anext(self._others)
                except StopAsyncIteration:
                    self._others = None
                    return
                if not isinstance(item, av.Packet):
                    continue
                self._held = item
            stamp = self._held.pts if self._held.pts is not None else self._held.dts
            if until is not None and stamp is not None and self._held.time_base is not None \
                    and stamp * self._held.time_base >= until:
                return
            await writer.write_async(self._held)
            self._held = None

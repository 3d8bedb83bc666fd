"""Reading media files (and any FFmpeg URL) for batch conversion, on a demux/decode thread.

:class:`MediaReader` yields, in file order, decoded video :class:`~streamer.frames.Frame`
objects and the untouched packets of every other stream (audio, subtitles) so a writer can
pass them through without re-encoding.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..errors import DecodeError, SourceOpenError, media_errors
from ..frames import Frame
from ..pixels import rgb_from_video
from ..priority import run_in_background_priority

__all__ = ["MediaReader", "VideoInfo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What a writer needs to know about the input's video stream."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None  #: average frame rate, if known
    frames: int | None  #: frame count from the container, or an estimate from the duration
    duration: float | None  #: seconds
    codec: str
    pix_fmt: str | None


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class MediaReader:
    """Demuxes and decodes a media file on its own thread.

    :param path: file path or FFmpeg URL.
    :param buffer: decoded frames held ahead of the consumer (the thread waits beyond that).
    :param background: run the thread at lower CPU priority than inference (batch work).

    .. code-block:: python

        with MediaReader("clip.mp4") as reader:
            reader.start()
            async for item in reader.items():
                ...  # Frame or av.Packet (of reader.copy_streams)
    """

    def __init__(self, path: str | Path, buffer: int = 8, background: bool = True) -> None:
        self.path = str(path)
        self.background = background
        self._container: Any = None
        self._video: Any = None
        self.copy_streams: list[Any] = []
        self.info: VideoInfo | None = None
        self._items: FrameBuffer[Frame | av.Packet | _Failure] = FrameBuffer(buffer, QueuePolicy.LOSSLESS)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> VideoInfo:
        """Open the container and find the video stream (blocking).

        :raises SourceOpenError: the file cannot be opened or has no video stream.
        """
        name = Path(self.path).name
        with media_errors(f"cannot open {name}", SourceOpenError):
            self._container = av.open(self.path, "r")
        try:
            videos = [s for s in self._container.streams if s.type == "video" and s.codec_context is not None]
            if not videos:
                raise SourceOpenError(f"{name} has no video stream")
            self._video = videos[0]
            self._video.thread_type = "AUTO"
            self.copy_streams = [s for s in self._container.streams
                                 if s is not self._video and s.type in ("audio", "subtitle")]
            self.info = self._describe(self._video)
        except BaseException:
            self.close()
            raise
        return self.info

    @staticmethod
    def _describe(stream: Any) -> VideoInfo:
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise SourceOpenError(f"video stream has no frame size ({ctx.name})")
        rate = stream.average_rate or stream.guessed_rate
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        if duration is None and stream.container.duration:
            duration = stream.container.duration / av.time_base
        frames = stream.frames or (round(duration * rate) if duration and rate else None)
        return VideoInfo(
            width=ctx.width, height=ctx.height, time_base=stream.time_base or Fraction(1, 90000),
            rate=Fraction(rate) if rate else None, frames=frames or None, duration=duration,
            codec=ctx.name, pix_fmt=ctx.pix_fmt,
        )

    def start(self) -> None:
        """Start the demux/decode thread (after :meth:`open`)."""
        if self._container is None:
            raise RuntimeError("open() the reader first")
        self._thread = threading.Thread(target=self._run, name="streamer-demux", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the container. Idempotent."""
        self._stop.set()
        self._items.close()
        self._items.drain()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> MediaReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- consuming ------------------------------------------------------------------------
    async def items(self) -> AsyncIterator[Frame | av.Packet]:
        """Decoded frames and pass-through packets, in file order.

        :raises DecodeError: the file is corrupt or truncated.
        """
        while True:
            try:
                item = await self._items.get_async()
            except BufferClosed:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        if self.background:
            run_in_background_priority()
        try:
            self._demux()
        except BufferClosed:
            pass  # close() was called: stop quietly
        except BaseException as exc:  # handed to the consumer, which raises it
            error = exc if isinstance(exc, DecodeError) else DecodeError(
                f"cannot decode {Path(self.path).name}: {exc}")
            error.__cause__ = exc
            try:
                self._items.put(_Failure(error))
            except BufferClosed:
                pass
        finally:
            self._items.close()

    def _demux(self) -> None:
        video = self._video
        streams = [video, *self.copy_streams]
        seq = 0
        with media_errors(f"cannot decode {Path(self.path).name}"):
            for packet in self._container.demux(streams):
                if self._stop.is_set():
                    return
                if packet.stream is not video:
                    if packet.size:
                        self._items.put(packet)
                    continue
                for decoded in packet.decode():
                    self._items.put(self._to_frame(decoded, seq))
                    seq += 1

    def _to_frame(self, decoded: av.VideoFrame, seq: int) -> Frame:
        time_base = decoded.time_base or self._video.time_base
        pts = decoded.pts
        if pts is None:
            rate = self.info.rate if self.info else None
            pts = int(seq / rate / time_base) if rate else seq
        return Frame(rgb_from_video(decoded), pts=pts, time_base=time_base, seq=seq)

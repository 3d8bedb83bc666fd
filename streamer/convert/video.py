"""Stylizing one video file: decode, inference and encode overlapped on three threads.

A thin adapter: the reader's frames go into a ``lossless`` engine stream, each frame's future is
awaited in order, interleaved with the packets copied as they are (audio, subtitles), and
written.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import av

from ..config import ProcessingSize, QueuePolicy
from ..engine import Engine
from ..frames import Frame
from ..sinks.file import EncoderSettings, MediaWriter
from ..sources.media import MediaReader, VideoInfo
from ..styles import StyleRecipe

__all__ = ["VideoResult", "convert_video"]

#: frames in flight between the reader and the writer (decoded, queued, being stylized)
IN_FLIGHT = 6


@dataclass
class VideoResult:
    """What a conversion did."""

    source: Path
    destination: Path
    frames: int = 0
    packets_copied: int = 0
    notices: list[str] = field(default_factory=list)
    damage: str | None = None  #: how the input was damaged (the output holds what decoded), or None


async def convert_video(
    engine: Engine,
    source: Path,
    destination: Path,
    recipe: StyleRecipe,
    size: ProcessingSize,
    settings: EncoderSettings | None = None,
    on_start: Callable[[VideoInfo], None] | None = None,
    on_frame: Callable[[], None] | None = None,
    video_stream: int | None = None,
) -> VideoResult:
    """Stylize every frame of ``source`` into ``destination``; never drops a frame.

    Timestamps (variable frame rate included), duration, frame count and displayed resolution
    are kept; rotated video is written upright; audio and subtitle packets are copied (or
    re-encoded when the output container cannot hold them). What was changed or left out is
    listed in ``notices``. A damaged input is converted as far as it decodes and described in
    ``damage`` (deciding what that means is the caller's policy). On any error or cancellation
    the partial output is deleted.
    """
    result = VideoResult(source, destination)
    reader = MediaReader(source, video_stream=video_stream)
    stream = None
    writer: MediaWriter | None = None
    try:
        info = await asyncio.to_thread(reader.open)
        result.notices.extend(reader.notices)
        cap = size.cap_note(info.height, info.width, engine.model_set.size_multiple)
        if cap:
            result.notices.append(cap)
        writer = MediaWriter(destination, info.width, info.height, info.time_base, info.rate,
                             reader.copy_streams, settings)
        await asyncio.to_thread(writer.open)
        result.notices.extend(writer.notices)
        if on_start is not None:
            on_start(info)
        stream = engine.open_stream(f"convert:{source.name}", QueuePolicy.LOSSLESS, capacity=3, size=size,
                                    upscale=False)  # the writer scales in YUV, a third of the cost
        await stream.set_style(recipe)
        reader.start()
        pending: deque[Future[Frame] | av.Packet] = deque()

        async def flush_head() -> None:
            head = pending.popleft()
            if isinstance(head, Future):
                stylized: Frame = await asyncio.wrap_future(head)
                await writer.write_async(stylized)
                result.frames += 1
                if on_frame is not None:
                    on_frame()
            else:
                await writer.write_async(head)
                result.packets_copied += 1

        async for item in reader.items():
            if isinstance(item, Frame):
                pending.append(await stream.submit(item))
            else:
                pending.append(item)
            while pending and (len(pending) > IN_FLIGHT or not isinstance(pending[0], Future)
                               or pending[0].done()):
                await flush_head()
        while pending:
            await flush_head()
        await asyncio.to_thread(writer.finish, reader.end_pts)
        result.damage = reader.report.describe()
        if reader.report.repaired_timestamps:
            result.notices.append(f"{reader.report.repaired_timestamps} missing or out-of-order frame "
                                  f"timestamps replaced")
        return result
    except BaseException:
        if writer is not None:
            await asyncio.shield(asyncio.to_thread(writer.abort))
        raise
    finally:
        if stream is not None:
            stream.close()
        await asyncio.shield(asyncio.to_thread(reader.close))

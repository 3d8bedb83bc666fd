"""What a worker process runs: decode a chunk, stylize it with its engine, encode it.

Each worker process keeps one :class:`~streamer.engine.Engine` (one inference thread) for all
the chunks it is given; the style embedding arrives with the chunk, computed once by the driver.
The encoder is set up by the same code as the destination file's writer
(:func:`~streamer.sinks.file.video_encoder_stream`), so the chunks join without re-encoding,
and each packet gets its frame's duration as the writer gives it.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..config import ProcessingSize, QueuePolicy
from ..engine import Engine
from ..errors import DecodeError
from ..frames import Frame
from ..inference.backends import BackendOptions
from ..pixels import scaled_video_from_rgb
from ..sinks.file import EncodedPacket, EncoderSettings, video_encoder_stream
from ..sources.media import MediaReader
from ..styles import StyleRecipe
from ..timestamps import nominal_interval
from .chunks import ChunkInput
from .models import ModelPackage
from .progress import ChunkKey

__all__ = ["ChunkDecodeError", "ChunkEncoder", "ChunkTask", "EncodedChunk", "EncoderSpec", "run_chunk",
           "stylize_chunk"]

#: frames in flight between the decoder and the encoder of one chunk
IN_FLIGHT = 6
#: seconds between progress reports to the driver
REPORT_EVERY = 0.5


class ChunkDecodeError(DecodeError):
    """A chunk decoded on its own gave other frames than planned, or decoding errors: the driver
    then sends the file whole (read exactly as without Ray, damage report included)."""


@dataclass(frozen=True)
class EncoderSpec:
    """The destination's video encoder, as its writer would set it up."""

    destination: str  #: file name: its extension picks the container and so the encoder's header mode
    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    settings: EncoderSettings
    threads: int = 1  #: encoder threads (fixed, so a retried chunk encodes the same anywhere)


@dataclass(frozen=True)
class ChunkTask:
    """Everything but the video a worker needs for one chunk.

    The recipe's style names come with their embeddings, computed once by the driver; the
    worker's stream composes them (mix, strength) exactly as a single-process conversion does.
    """

    key: ChunkKey  #: progress key: the file, the attempt at it, the chunk
    recipe: StyleRecipe
    embeddings: dict[str, np.ndarray]  #: each of ``recipe.styles`` -> its embedding
    size: ProcessingSize
    encoder: EncoderSpec
    backend: BackendOptions

    async def lookup(self, name: str) -> np.ndarray:
        """The embedding of one of the recipe's style names (the stream's style lookup)."""
        return self.embeddings[name]


@dataclass
class EncodedChunk:
    """A stylized, encoded chunk on its way back to the driver."""

    index: int
    packets: list[EncodedPacket]
    extradata: bytes | None
    frames: int
    backend: str  #: the worker's backend summary
    worker: str  #: host and process id
    seconds: float
    end_pts: int | None = None  #: where the video ends (a whole file: as its reader found it)
    damage: str | None = None  #: a whole file's damage, as its reader describes it, or None
    repaired: int = 0  #: a whole file's frame timestamps replaced by its reader


class ChunkEncoder:
    """Encodes frames like the destination's writer, keeping the packets instead of writing a file."""

    def __init__(self, spec: EncoderSpec) -> None:
        self.spec = spec
        memory = io.BytesIO()
        memory.name = spec.destination  # lets PyAV pick the destination's container format
        self._container: Any = av.open(memory, "w")
        self.packets: list[EncodedPacket] = []
        self._frame_pts: list[int] = []
        try:
            codec = spec.settings.codec_for(spec.destination)
            self._stream = video_encoder_stream(self._container, Path(spec.destination), codec, spec.width,
                                                spec.height, spec.time_base, spec.rate, spec.settings)
            self._stream.codec_context.thread_count = spec.threads
        except BaseException:
            self.close()
            raise

    def encode(self, frame: Frame | None) -> None:
        """Encode ``frame`` (``None`` flushes the encoder)."""
        if frame is None:
            packets = self._stream.encode(None)
        else:
            # scaled from the processing size as the file writer does it (in YUV), so the chunks'
            # frames are the single-process ones
            out = scaled_video_from_rgb(frame.image, self.spec.width, self.spec.height,
                                        self._stream.pix_fmt or "yuv420p")
            out.pts, out.time_base = frame.pts, self.spec.time_base
            if frame.pts is not None:
                self._frame_pts.append(frame.pts)
            packets = self._stream.encode(out)
        self.packets.extend(EncodedPacket(bytes(p), p.pts, p.dts, p.is_keyframe, 0) for p in packets)

    def finish(self, end_pts: int | None) -> list[EncodedPacket]:
        """Flush the encoder and give each packet its frame's duration: to the next frame, the
        last one to ``end_pts`` (as the file writer does)."""
        self.encode(None)
        shown = sorted(self._frame_pts)
        durations = {a: b - a for a, b in zip(shown, shown[1:], strict=False) if b > a}
        if shown:
            last = shown[-1]
            before = durations.get(shown[-2]) if len(shown) > 1 else None
            fallback = before or nominal_interval(self.spec.rate, self.spec.time_base)
            durations[last] = end_pts - last if end_pts is not None and end_pts > last else fallback
        return [p._replace(duration=durations.get(p.pts, 0)) if p.pts is not None else p for p in self.packets]

    @property
    def extradata(self) -> bytes | None:
        """The encoder's global header (after the first frame)."""
        data = self._stream.codec_context.extradata
        return bytes(data) if data else None

    def close(self) -> None:
        """Release the encoder (nothing was written anywhere). Idempotent."""
        if self._container is not None:
            self._container.close()
            self._container = None


async def stylize_chunk(engine: Engine, task: ChunkTask, chunk: ChunkInput,
                        report: Callable[[int], None] | None = None) -> EncodedChunk:
    """Decode ``chunk``, stylize every frame with ``task.style``, encode; report frames done.

    :raises DecodeError: the chunk cannot be decoded, or decodes to other frames than planned.
    """
    started = time.perf_counter()
    memory = io.BytesIO(chunk.data)
    memory.name = chunk.name
    # a decoder starting at an H.264 recovery point complains about references it never saw while
    # giving the whole file's pictures (the recovery point promises it): those messages, until its
    # first picture, are the cut's, not damage. Nothing else is excused, and nothing in the file's
    # first chunk (a decoder of the whole file starts there too): any other error is damage, and
    # the file goes whole
    expected = chunk.entry.expects if chunk.index > 0 else None
    reader = MediaReader(memory, video_stream=chunk.video_stream, orientation=chunk.orientation,
                         expected=expected)
    encoder = ChunkEncoder(task.encoder)
    stream = engine.open_stream(f"chunk:{task.key}", QueuePolicy.LOSSLESS, capacity=3, size=task.size,
                                lookup=task.lookup, upscale=False)  # the encoder scales, as the writer does
    positions: set[int] = set()
    done = 0
    last_report = time.monotonic()

    async def encode_head(pending: deque[Future[Frame]]) -> None:
        nonlocal done, last_report
        stylized: Frame = await asyncio.wrap_future(pending.popleft())
        await asyncio.to_thread(encoder.encode, stylized)
        done += 1
        if report is not None and time.monotonic() - last_report >= REPORT_EVERY:
            last_report = time.monotonic()
            report(done)

    try:
        await stream.set_style(task.recipe)
        await asyncio.to_thread(reader.open)
        reader.start()
        pending: deque[Future[Frame]] = deque()
        async for item in reader.items():
            if not isinstance(item, Frame):
                continue  # a whole file's other streams: the driver copies them from the source
            positions.add(chunk.restore_timing(item))
            pending.append(await stream.submit(item))
            while pending and (len(pending) > IN_FLIGHT or pending[0].done()):
                await encode_head(pending)
        while pending:
            await encode_head(pending)
        whole = chunk.pts is None
        end_pts = reader.end_pts if whole else chunk.end_pts
        packets = await asyncio.to_thread(encoder.finish, end_pts)
        read = reader.report
        errors = read.failed_packets + read.decoder_errors
        if not whole and (not len(positions) == done == chunk.frames or errors):
            first = f"; first: {read.first_error}" if read.first_error else ""
            raise ChunkDecodeError(f"{chunk.name}: chunk {chunk.index} decoded {len(positions)} of {chunk.frames} "
                                   f"frames on its own with {errors} decoding errors{first}")
        if report is not None:
            report(done)
        return EncodedChunk(chunk.index, packets, encoder.extradata, done, engine.report.summary,
                            f"{socket.gethostname()} pid {os.getpid()}", time.perf_counter() - started,
                            end_pts, read.describe() if whole else None, read.repaired_timestamps if whole else 0)
    finally:
        stream.close()
        encoder.close()
        await asyncio.shield(asyncio.to_thread(reader.close))


# -- the worker process's engine ----------------------------------------------------------------
_engine: tuple[tuple[str, BackendOptions], Engine] | None = None


async def _engine_for(model: ModelPackage, backend: BackendOptions) -> Engine:
    """This process's engine, created on the first chunk (and again only if the model changes)."""
    global _engine
    key = (model.digest, backend)
    if _engine is not None and _engine[0] == key:
        return _engine[1]
    if _engine is not None:
        await _engine[1].stop(drain=False)
        _engine = None
    engine = Engine.create(model.install(), backend, max_batch=1, use_disk_cache=False)
    await engine.start()
    _engine = (key, engine)
    return engine


def run_chunk(task: ChunkTask, chunk: ChunkInput, model: ModelPackage, counter: Any = None) -> EncodedChunk:
    """Ray task body: stylize one chunk in this worker process.

    :param counter: a :class:`~streamer.cluster.progress.FrameCounter` actor handle, or None.
    """

    def report(frames: int) -> None:
        counter.report.remote(task.key, frames)

    async def main() -> EncodedChunk:
        engine = await _engine_for(model, task.backend)
        return await stylize_chunk(engine, task, chunk, report if counter is not None else None)

    return asyncio.run(main())

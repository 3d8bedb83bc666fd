"""What a worker process runs: decode a chunk, stylize it with its engine, encode it.

Each worker process keeps one :class:`~streamer.engine.Engine` (one inference thread) for all
the chunks it is given; the style embedding arrives with the chunk, computed once by the driver.
The encoder is set up by the same code as the destination file's writer
(:func:`~streamer.sinks.file.add_video_stream`), so the chunks join without re-encoding.
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
from ..sinks.file import EncodedPacket, EncoderSettings, add_video_stream, encode_video_frame
from ..sources.media import MediaReader
from ..styles import StyleRecipe
from .chunks import ChunkInput
from .models import ModelPackage

__all__ = ["ChunkEncoder", "ChunkTask", "EncodedChunk", "EncoderSpec", "run_chunk", "stylize_chunk"]

#: frames in flight between the decoder and the encoder of one chunk
IN_FLIGHT = 6
#: seconds between progress reports to the driver
REPORT_EVERY = 0.5


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

    key: str  #: progress key, unique per chunk of the job
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


class ChunkEncoder:
    """Encodes frames like the destination's writer, keeping the packets instead of writing a file."""

    def __init__(self, spec: EncoderSpec) -> None:
        self.spec = spec
        memory = io.BytesIO()
        memory.name = spec.destination  # lets PyAV pick the destination's container format
        self._container: Any = av.open(memory, "w")
        self.packets: list[EncodedPacket] = []
        try:
            codec = spec.settings.codec_for(spec.destination)
            self._stream = add_video_stream(self._container, Path(spec.destination), codec, spec.width,
                                            spec.height, spec.time_base, spec.rate, spec.settings)
            self._stream.codec_context.thread_count = spec.threads
        except BaseException:
            self.close()
            raise

    def encode(self, frame: Frame | None) -> None:
        """Encode ``frame`` (``None`` flushes the encoder)."""
        for packet in encode_video_frame(self._stream, frame, self.spec.time_base):
            self.packets.append(EncodedPacket(bytes(packet), packet.pts, packet.dts, packet.is_keyframe,
                                              packet.duration or 0))

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
    reader = MediaReader(memory)
    encoder = ChunkEncoder(task.encoder)
    stream = engine.open_stream(f"chunk:{task.key}", QueuePolicy.LOSSLESS, capacity=3, size=task.size,
                                lookup=task.lookup)
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
        await asyncio.to_thread(encoder.encode, None)
        if chunk.frames is not None and not len(positions) == done == chunk.frames:
            raise DecodeError(f"{chunk.name}: chunk {chunk.index} decoded {len(positions)} of {chunk.frames} "
                              f"frames on its own; convert this file with --chunk-seconds 0")
        if report is not None:
            report(done)
        return EncodedChunk(chunk.index, encoder.packets, encoder.extradata, done, engine.report.summary,
                            f"{socket.gethostname()} pid {os.getpid()}", time.perf_counter() - started)
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

"""The asyncio face of the inference thread: start/stop, streams of frames, style embeddings.

.. code-block:: python

    async with Engine.create("fast") as engine:
        stream = engine.open_stream("clip", QueuePolicy.LOSSLESS, size=ProcessingSize(384))
        stream.style = await engine.styles.embedding("starry")
        stylized = await stream.stylize(frame)
"""

from __future__ import annotations

import asyncio
import enum
import os
from concurrent.futures import Future
from typing import Any

import numpy as np

from .config import ProcessingSize, QueuePolicy
from .errors import EngineClosedError, StyleError
from .frames import Frame
from .inference.backends import BackendOptions, BackendReport
from .inference.catalog import ModelSet, find_model_set
from .inference.modelfile import file_sha256
from .inference.stylizer import Stylizer
from .inference.worker import InferenceWorker, Lane, LaneStats
from .styles import EmbeddingCache, StyleResolver, default_cache_dir, load_builtin_styles

__all__ = ["Engine", "EngineState", "EngineStream"]


class EngineState(enum.StrEnum):
    """Lifecycle of an :class:`Engine`; a stopped engine cannot be restarted."""

    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class EngineStream:
    """Frames of one source going through the engine, with the style to paint them in.

    :param lane: the lane into the inference thread.
    :param size: processing resolution; the output keeps each frame's own size.
    :param multiple: the model's size granularity.
    """

    def __init__(self, lane: Lane, size: ProcessingSize, multiple: int) -> None:
        self._lane = lane
        self.size = size
        self._multiple = multiple
        self.style: np.ndarray | None = None
        self._shapes: dict[tuple[int, int], tuple[int, int]] = {}

    @property
    def name(self) -> str:
        """The stream's name (shown in stats)."""
        return self._lane.name

    @property
    def policy(self) -> QueuePolicy:
        """``lossless`` or ``latest``."""
        return self._lane.policy

    @property
    def stats(self) -> LaneStats:
        """submitted / processed / dropped / failed counters."""
        return self._lane.stats

    def processing_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) a ``height`` x ``width`` frame is stylized at."""
        key = (height, width)
        if key not in self._shapes:
            self._shapes[key] = self.size.shape_for(height, width, self._multiple)
        return self._shapes[key]

    def _style_for(self, style: np.ndarray | None) -> np.ndarray:
        chosen = self.style if style is None else style
        if chosen is None:
            raise StyleError(f"stream {self.name!r} has no style set")
        return chosen

    async def submit(self, frame: Frame, style: np.ndarray | None = None) -> Future[Frame]:
        """Queue ``frame``; ``lossless`` streams wait for room, ``latest`` ones drop the oldest.

        Returns a :class:`concurrent.futures.Future`; await it with :func:`asyncio.wrap_future`.
        A dropped frame's future raises :class:`~streamer.errors.FrameDropped`.
        """
        shape = self.processing_shape(frame.height, frame.width)
        chosen = self._style_for(style)
        if self.policy is QueuePolicy.LATEST:
            return self._lane.submit_nowait(frame, chosen, shape)
        return await self._lane.submit_async(frame, chosen, shape)

    def submit_nowait(self, frame: Frame, style: np.ndarray | None = None) -> Future[Frame]:
        """Queue ``frame`` from any thread without waiting (``latest`` streams; a full
        ``lossless`` stream raises ``BufferError``)."""
        shape = self.processing_shape(frame.height, frame.width)
        return self._lane.submit_nowait(frame, self._style_for(style), shape)

    async def stylize(self, frame: Frame, style: np.ndarray | None = None) -> Frame:
        """Submit ``frame`` and wait for its stylized version."""
        return await asyncio.wrap_future(await self.submit(frame, style))

    def close(self) -> None:
        """Stop this stream; frames still queued are dropped and counted."""
        self._lane.close()


class Engine:
    """Owns the inference thread, the models on it, and the style resolver.

    Use :meth:`create` for the usual wiring; pass a prepared :class:`InferenceWorker` to
    ``__init__`` to swap the inference side (tests).
    """

    def __init__(self, model_set: ModelSet, worker: InferenceWorker,
                 cache: EmbeddingCache | None = None) -> None:
        self.model_set = model_set
        self._worker = worker
        self.state = EngineState.NEW
        builtins = load_builtin_styles(model_set.styles_file)
        predictor_sha = None
        if model_set.predictor is not None and model_set.predictor.is_file():
            predictor_sha = model_set.expected_sha256(model_set.predictor) or file_sha256(model_set.predictor)
        self.styles = StyleResolver(self.embed_image, builtins, cache or EmbeddingCache(None), predictor_sha)

    @classmethod
    def create(
        cls,
        model: str | os.PathLike[str] | None = None,
        backend: BackendOptions | None = None,
        *,
        max_batch: int = 4,
        cache_dir: os.PathLike[str] | str | None = None,
        use_disk_cache: bool = True,
    ) -> Engine:
        """Find ``model`` (name or directory; default: the bundled default) and wire an engine."""
        model_set = find_model_set(model)
        options = backend or BackendOptions()
        worker = InferenceWorker(lambda: Stylizer.open(model_set, options), max_batch=max_batch)
        directory = None
        if use_disk_cache:
            from pathlib import Path

            directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        return cls(model_set, worker, EmbeddingCache(directory))

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> BackendReport:
        """Start the inference thread and load the models there; return the backend report."""
        if self.state is not EngineState.NEW:
            raise EngineClosedError(f"engine is {self.state.value}; create a new one")
        self.state = EngineState.RUNNING
        try:
            return await asyncio.to_thread(self._worker.start)
        except BaseException:
            self.state = EngineState.STOPPED
            raise

    async def stop(self, drain: bool = True) -> None:
        """Stop the inference thread (finishing queued frames if ``drain``). Idempotent."""
        if self.state is EngineState.STOPPED:
            return
        self.state = EngineState.STOPPED
        await asyncio.to_thread(self._worker.close, drain)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop(drain=exc_info[0] is None)

    # -- use ------------------------------------------------------------------------------
    @property
    def report(self) -> BackendReport:
        """Which backend runs and why (after :meth:`start`)."""
        if self._worker.report is None:
            raise EngineClosedError("engine not started")
        return self._worker.report

    @property
    def worker(self) -> InferenceWorker:
        """The inference thread (for stats)."""
        return self._worker

    def open_stream(self, name: str = "stream", policy: QueuePolicy = QueuePolicy.LOSSLESS,
                    capacity: int = 4, size: ProcessingSize | None = None) -> EngineStream:
        """Open a stream of frames into the engine (one per source, or per session)."""
        if self.state is not EngineState.RUNNING:
            raise EngineClosedError(f"engine is {self.state.value}")
        lane = self._worker.open_lane(name, policy, capacity)
        return EngineStream(lane, size or ProcessingSize(), self.model_set.size_multiple)

    async def embed_image(self, image: np.ndarray) -> np.ndarray:
        """Run the style predictor on an RGB image, on the inference thread."""
        if self.state is not EngineState.RUNNING:
            raise EngineClosedError(f"engine is {self.state.value}")
        return await asyncio.wrap_future(self._worker.call(lambda s: s.embed(image)))

    async def predictor_runs(self) -> int:
        """How many times the predictor has run (read on the inference thread)."""
        return await asyncio.wrap_future(self._worker.call(lambda s: s.predictor_runs))

    def stats(self) -> dict[str, Any]:
        """Worker counters and per-stream counters."""
        w = self._worker.stats
        return {
            "batches": w.batches,
            "frames": w.frames,
            "batched_frames": w.batched_frames,
            "busy_seconds": round(w.busy_seconds, 3),
            "streams": {lane.name: lane.stats.as_dict() for lane in self._worker.lanes},
        }

"""The asyncio face of the inference thread: start/stop, stylized streams, style embeddings.

.. code-block:: python

    async with Engine.create("fast") as engine:
        stream = engine.open_stream("clip", QueuePolicy.LOSSLESS, size=ProcessingSize(384))
        await stream.set_style(StyleRecipe.of("starry"))
        stylized = await stream.stylize(frame)

If the inference thread fails, the engine is :attr:`EngineState.FAILED`: every pending and
later frame of every stream fails with :class:`~streamer.errors.EngineClosedError` carrying the
cause, and :meth:`Engine.open_stream` refuses (see :mod:`streamer.stream`).
"""

from __future__ import annotations

import asyncio
import enum
import os
from typing import Any

import numpy as np

from .config import ProcessingSize, QueuePolicy
from .errors import EngineClosedError, engine_failed
from .inference.backends import BackendOptions, BackendReport
from .inference.catalog import ModelSet, find_model_set
from .inference.process import ProcessPriority, ProcessStylizer
from .inference.stylizer import FrameStylizer, Stylizer
from .inference.worker import InferenceWorker
from .stream import EngineStream
from .styles import EmbeddingCache, StyleMixer, StyleResolver, default_cache_dir, load_builtin_styles
from .styles.mixer import StyleLookup

__all__ = ["Engine", "EngineState", "EngineStream"]


class EngineState(enum.StrEnum):
    """Lifecycle of an :class:`Engine`; a stopped or failed engine cannot be restarted."""

    NEW = "new"
    RUNNING = "running"
    FAILED = "failed"  #: the inference thread failed; :attr:`Engine.failure` says why
    STOPPED = "stopped"


class Engine:
    """Owns the inference thread, the models on it, and the style resolver.

    Use :meth:`create` for the usual wiring; pass a prepared :class:`InferenceWorker` to
    ``__init__`` to swap the inference side (tests).
    """

    def __init__(self, model_set: ModelSet, worker: InferenceWorker,
                 cache: EmbeddingCache | None = None) -> None:
        self.model_set = model_set
        self._worker = worker
        self._state = EngineState.NEW
        builtins = load_builtin_styles(model_set.styles_file)
        self.styles = StyleResolver(self.embed_image, builtins, cache or EmbeddingCache(None),
                                    model_set.predictor_sha256())

    @classmethod
    def create(
        cls,
        model: str | os.PathLike[str] | None = None,
        backend: BackendOptions | None = None,
        *,
        max_batch: int = 4,
        cache_dir: os.PathLike[str] | str | None = None,
        use_disk_cache: bool = True,
        inference_process: ProcessPriority | None = None,
    ) -> Engine:
        """Find ``model`` (name or directory; default: the bundled default) and wire an engine.

        :param inference_process: run the models in a child process at this CPU priority
            (:mod:`streamer.inference.process`; a server's event loop then never shares a GIL
            with inference); None: on the inference thread itself.
        """
        model_set = find_model_set(model)
        options = backend or BackendOptions()

        def open_stylizer() -> FrameStylizer:
            if inference_process is None:
                return Stylizer.open(model_set, options)
            return ProcessStylizer.open(model_set, options, inference_process, on_exit=worker.abort)

        worker = InferenceWorker(open_stylizer, max_batch=max_batch)
        directory = None
        if use_disk_cache:
            from pathlib import Path

            directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        return cls(model_set, worker, EmbeddingCache(directory))

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def state(self) -> EngineState:
        """new, running, failed (the inference thread failed) or stopped."""
        if self._state is EngineState.RUNNING and self._worker.failure is not None:
            return EngineState.FAILED
        return self._state

    @property
    def failure(self) -> BaseException | None:
        """The exception that made the inference thread fail, if it did."""
        return self._worker.failure

    async def start(self) -> BackendReport:
        """Start the inference thread and load the models there; return the backend report."""
        if self._state is not EngineState.NEW:
            raise EngineClosedError(f"engine is {self._state.value}; create a new one")
        self._state = EngineState.RUNNING
        try:
            return await asyncio.to_thread(self._worker.start)
        except BaseException:
            self._state = EngineState.STOPPED
            raise

    async def stop(self, drain: bool = True) -> None:
        """Stop the inference thread (finishing queued frames if ``drain``). Idempotent."""
        if self._state is EngineState.STOPPED:
            return
        self._state = EngineState.STOPPED
        await asyncio.to_thread(self._worker.close, drain)

    def _check_running(self) -> None:
        state = self.state
        if state is EngineState.FAILED:
            assert self._worker.failure is not None
            raise engine_failed(self._worker.failure)
        if state is not EngineState.RUNNING:
            raise EngineClosedError(f"engine is {state.value}")

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
    def inference_pid(self) -> int | None:
        """The process the models run in: a child's id with ``inference_process``, else this
        process's; None when they are not loaded."""
        stylizer = self._worker.stylizer
        if stylizer is None:
            return None
        return stylizer.pid if isinstance(stylizer, ProcessStylizer) else os.getpid()

    @property
    def worker(self) -> InferenceWorker:
        """The inference thread (for stats)."""
        return self._worker

    def open_stream(self, name: str = "stream", policy: QueuePolicy = QueuePolicy.LOSSLESS,
                    capacity: int = 4, size: ProcessingSize | None = None, *, results: int = 0,
                    lookup: StyleLookup | None = None, upscale: bool = True) -> EngineStream:
        """Open a stylized stream (one per source, or per session); see :class:`EngineStream`.

        :param policy: ``lossless`` (submit waits for room) or ``latest`` (drop the oldest).
        :param capacity: frames allowed to wait for inference.
        :param size: processing resolution (default: 384 on the short side).
        :param results: capacity of the drop-oldest results buffer read with
            :meth:`EngineStream.results` (0: results only through each frame's future).
        :param lookup: resolves style names (default: :meth:`StyleResolver.embedding`:
            built-in names, style images, ``.npy`` files).
        :param upscale: False: stylized frames stay at the processing size, for a sink that
            scales them itself more cheaply (the file writer does it in YUV).
        :raises EngineClosedError: the engine is not running, or failed (with the cause).
        """
        self._check_running()
        lane = self._worker.open_lane(name, policy, capacity, upscale)
        mixer = StyleMixer(lookup or self.styles.embedding, self.embed_image if self.styles.has_predictor else None)
        return EngineStream(lane, size or ProcessingSize(), self.model_set.size_multiple, mixer, results)

    async def embed_image(self, image: np.ndarray) -> np.ndarray:
        """Run the style predictor on an RGB image, on the inference thread."""
        self._check_running()
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

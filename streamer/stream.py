"""A stylized stream: one source's frames through the engine, with its style, results and meters.

Every front-end uses the same object, opened with :meth:`Engine.open_stream
<streamer.engine.Engine.open_stream>`:

.. code-block:: python

    stream = engine.open_stream("camera", QueuePolicy.LATEST, capacity=1, results=1)
    await stream.set_style(StyleRecipe.of("starry", strength=0.8))   # the one way a style arrives
    await stream.submit(frame)                                       # from the source's adapter
    async for stylized in stream.results():                          # to the sinks' adapter
        ...

* **Style**: :meth:`EngineStream.set_style` takes a :class:`~streamer.styles.StyleRecipe` (or a
  ready embedding); names are resolved by the stream's lookup and composed by its
  :class:`~streamer.styles.StyleMixer` (mix, strength, the content's own embedding).
* **Queue**: ``lossless`` streams make :meth:`~EngineStream.submit` wait for room (files);
  ``latest`` streams drop their oldest queued frame (live).
* **Results**: each :meth:`~EngineStream.submit` returns the frame's future (in-order
  consumers such as file conversion await them). A stream opened with ``results=N`` also
  delivers every stylized frame to a drop-oldest buffer of ``N``, read with
  :meth:`~EngineStream.results` / :meth:`~EngineStream.next_result`.
* **Failure**: if the inference thread fails, every pending future and the results iterator
  raise :class:`~streamer.errors.EngineClosedError` carrying the cause, and so does every
  later submit.
* **Meters**: :attr:`~EngineStream.meters` (rates, latency) and :attr:`~EngineStream.stats`
  (submitted / processed / dropped / failed).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future

import numpy as np

from .buffers import BufferClosed, FrameBuffer
from .config import ProcessingSize, QueuePolicy
from .errors import EngineClosedError, FrameDropped, StyleError, engine_failed
from .frames import Frame
from .inference.worker import Lane, LaneStats
from .metrics import StreamMeters
from .styles import StyleMixer, StyleRecipe

__all__ = ["EngineStream"]


class EngineStream:
    """Frames of one source going through the engine, painted with the stream's style.

    Create with :meth:`Engine.open_stream <streamer.engine.Engine.open_stream>`.

    :param lane: the lane into the inference thread.
    :param size: processing resolution; the output keeps each frame's own size.
    :param multiple: the model's size granularity.
    :param mixer: composes the embedding each frame is painted with.
    :param results: capacity of the drop-oldest results buffer (0: futures only).
    """

    def __init__(self, lane: Lane, size: ProcessingSize, multiple: int, mixer: StyleMixer,
                 results: int = 0) -> None:
        self._lane = lane
        self.name = lane.name  #: shown in stats
        self.policy = lane.policy  #: ``lossless`` or ``latest``
        self.size = size
        self._multiple = multiple
        self._mixer = mixer
        self._shapes: dict[tuple[int, int], tuple[int, int]] = {}
        self.meters = StreamMeters()
        self._results: FrameBuffer[Frame] | None = (
            FrameBuffer(results, QueuePolicy.LATEST) if results > 0 else None)
        self._pending: set[Future[Frame]] = set()
        self._pending_lock = threading.Lock()
        self._error: EngineClosedError | None = None
        lane.on_shutdown(self._engine_ended)

    # -- what it is -----------------------------------------------------------------------
    @property
    def stats(self) -> LaneStats:
        """submitted / processed / dropped / failed counters of the engine queue."""
        return self._lane.stats

    @property
    def dropped(self) -> int:
        """Frames dropped on the way: replaced in the engine queue or in the results buffer."""
        return self._lane.stats.dropped + (self._results.dropped if self._results is not None else 0)

    @property
    def recipe(self) -> StyleRecipe | None:
        """The style recipe in use (None before one is set, or with a raw embedding)."""
        return self._mixer.recipe

    @property
    def content_runs(self) -> int:
        """How many times the content's own embedding was computed (strength below 1)."""
        return self._mixer.content_runs

    @property
    def error(self) -> EngineClosedError | None:
        """Why the stream ended, if the engine failed under it."""
        return self._error

    def processing_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) a ``height`` x ``width`` frame is stylized at."""
        key = (height, width)
        if key not in self._shapes:
            self._shapes[key] = self.size.shape_for(height, width, self._multiple)
        return self._shapes[key]

    # -- style ----------------------------------------------------------------------------
    async def set_style(self, style: StyleRecipe | np.ndarray) -> None:
        """Paint frames submitted from now on with ``style``: a recipe (names resolved by the
        stream's lookup) or a ready 100-value embedding. A bad style leaves the old one.

        :raises StyleError: an unknown style, or strength below 1 without a predictor.
        """
        await self._mixer.set(style)

    # -- frames in ------------------------------------------------------------------------
    async def submit(self, frame: Frame) -> Future[Frame]:
        """Queue ``frame``; ``lossless`` streams wait for room, ``latest`` ones drop the oldest.

        Returns the frame's :class:`concurrent.futures.Future` (await it with
        :func:`asyncio.wrap_future`); a dropped frame's future raises
        :class:`~streamer.errors.FrameDropped`. With a pass-through recipe (no style) the
        future already holds the frame itself.

        :raises StyleError: no style was set.
        :raises EngineClosedError: the stream or the engine is closed, or the engine failed.
        """
        if self._error is not None:
            raise self._error
        if not self._mixer.is_set:
            raise StyleError(f"stream {self.name!r} has no style set")
        shape = self.processing_shape(frame.height, frame.width)
        embedding = await self._mixer.embedding_for(frame)
        self.meters.frames_in.tick(frame.captured_at)
        if embedding is None:
            future: Future[Frame] = Future()
            future.set_result(frame)
        elif self.policy is QueuePolicy.LATEST:
            future = self._lane.submit_nowait(frame, embedding, shape)
        else:
            future = await self._lane.submit_async(frame, embedding, shape)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._settled)
        return future

    async def stylize(self, frame: Frame) -> Frame:
        """Submit ``frame`` and wait for its stylized version."""
        return await asyncio.wrap_future(await self.submit(frame))

    def _settled(self, future: Future[Frame]) -> None:
        """A frame left the engine (usually on the inference thread)."""
        with self._pending_lock:
            self._pending.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            frame = future.result()
            if self._results is None:
                self.meters.frame_out(frame.captured_at)
                return
            try:
                self._results.put_nowait(frame)
            except BufferClosed:
                pass
        elif isinstance(error, EngineClosedError) and error.cause is not None:
            self._fail(error)
        elif not isinstance(error, FrameDropped | EngineClosedError):
            self._fail(engine_failed(error))

    def _engine_ended(self, failure: BaseException | None) -> None:
        """The inference thread stopped for good (called on it)."""
        if failure is not None:
            self._fail(engine_failed(failure))
        elif self._results is not None:
            self._results.close()

    def _fail(self, error: EngineClosedError) -> None:
        if self._error is None:
            self._error = error
        if self._results is not None:
            self._results.close()

    # -- results out ----------------------------------------------------------------------
    async def next_result(self) -> Frame | None:
        """The oldest stylized frame not read yet, waiting for one; None once the stream has
        ended normally.

        :raises EngineClosedError: the engine failed (with its cause).
        :raises RuntimeError: the stream was opened without ``results``.
        """
        if self._results is None:
            raise RuntimeError(f"stream {self.name!r} was opened without a results buffer")
        try:
            frame = await self._results.get_async()
        except BufferClosed:
            if self._error is not None:
                raise self._error from self._error.cause
            return None
        self.meters.frame_out(frame.captured_at)
        return frame

    async def results(self) -> AsyncIterator[Frame]:
        """Stylized frames as they are ready, until the stream ends (see :meth:`next_result`)."""
        while (frame := await self.next_result()) is not None:
            yield frame

    # -- the end --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop now: frames still queued are dropped (and counted), results not read yet are
        discarded and readers of :meth:`results` see the end. Idempotent."""
        self._lane.close()
        if self._results is not None:
            self._results.close()

    async def aclose(self, timeout: float = 30.0) -> None:
        """Stop taking frames, let the frames already in inference finish (at most
        ``timeout`` seconds) and reach the results, then end the results. Idempotent."""
        self._lane.close()
        with self._pending_lock:
            pending = [asyncio.wrap_future(f) for f in self._pending]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self._results is not None:
            self._results.close()

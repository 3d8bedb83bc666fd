"""The single inference thread, and the lanes that feed it.

Every interpreter is created, used and closed on one thread (TFLite interpreters are not
thread-safe). Producers reach it through :class:`Lane` objects, each a bounded
:class:`~streamer.buffers.FrameBuffer` with its own policy: ``lossless`` lanes make the producer
wait; ``latest`` lanes drop their oldest queued frame. The thread serves lanes round-robin, so a
busy lane cannot starve the others, and runs the head frames of several lanes as one batch when
they share a processing shape.

An exception on the thread (a transform that raises included: an interpreter that failed is
in an unknown state) is fatal: :attr:`InferenceWorker.failure` keeps it, every queued and
in-flight frame and call fails with :class:`~streamer.errors.EngineClosedError` carrying it as
its cause, lanes close, and new lanes, frames and calls are refused the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..errors import EngineClosedError, FrameDropped, engine_failed
from ..frames import Frame
from .backends import BackendReport
from .stylizer import FrameStylizer

__all__ = ["FrameJob", "InferenceWorker", "Lane", "LaneStats", "WorkerStats"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(eq=False)
class FrameJob:
    """One frame waiting for inference, with the embedding and shape to run it at."""

    frame: Frame
    style: np.ndarray
    shape: tuple[int, int]
    future: Future[Frame] = field(default_factory=Future)
    upscale: bool = True  #: False: the result stays at ``shape`` (its sink scales it)


@dataclass
class LaneStats:
    """Counters of one lane. ``submitted == processed + dropped + failed + pending``."""

    submitted: int = 0
    processed: int = 0
    dropped: int = 0
    failed: int = 0
    inference_seconds: float = 0.0  #: this lane's share of inference time

    @property
    def pending(self) -> int:
        """Frames queued or being processed."""
        return self.submitted - self.processed - self.dropped - self.failed

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly counters."""
        return {
            "submitted": self.submitted,
            "processed": self.processed,
            "dropped": self.dropped,
            "failed": self.failed,
            "pending": self.pending,
            "inference_seconds": round(self.inference_seconds, 4),
        }


@dataclass
class WorkerStats:
    """Counters of the inference thread."""

    batches: int = 0  #: transform invocations
    frames: int = 0  #: frames stylized
    batched_frames: int = 0  #: frames that ran in a batch of two or more
    busy_seconds: float = 0.0


class Lane:
    """One producer's bounded queue into the inference thread.

    Create with :meth:`InferenceWorker.open_lane`. Results come back as
    :class:`concurrent.futures.Future` objects; a frame dropped by the ``latest`` policy (or left
    queued when the lane closes) gets :class:`~streamer.errors.FrameDropped`.
    """

    def __init__(self, worker: InferenceWorker, name: str, policy: QueuePolicy, capacity: int,
                 upscale: bool = True) -> None:
        self.name = name
        self.policy = QueuePolicy(policy)
        self.upscale = upscale  #: False: results stay at the processing shape (the sink scales them)
        self.stats = LaneStats()
        self._worker = worker
        self._lock = threading.Lock()
        self._buffer: FrameBuffer[FrameJob] = FrameBuffer(capacity, self.policy, on_drop=self._drop)
        self._buffer.add_listener(worker._wake)
        self._on_shutdown: Callable[[BaseException | None], None] | None = None

    def on_shutdown(self, callback: Callable[[BaseException | None], None]) -> None:
        """Call ``callback(failure)`` (on the inference thread) when the worker stops for good:
        ``failure`` is what made it fail, or None after a normal stop."""
        self._on_shutdown = callback

    @property
    def capacity(self) -> int:
        """Maximum frames queued in this lane."""
        return self._buffer.capacity

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._buffer.closed

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self.stats, key, getattr(self.stats, key) + value)

    def _drop(self, job: FrameJob) -> None:
        self._count(dropped=1)
        if job.future.set_running_or_notify_cancel():
            job.future.set_exception(FrameDropped(f"{self.name}: frame {job.frame.seq} dropped"))

    def _closed_error(self) -> EngineClosedError:
        failure = self._worker.failure
        return engine_failed(failure) if failure is not None else EngineClosedError(f"lane {self.name!r} is closed")

    def _fail(self, job: FrameJob, error: EngineClosedError) -> None:
        self._count(failed=1)
        if job.future.set_running_or_notify_cancel():
            job.future.set_exception(error)

    def _job(self, frame: Frame, style: np.ndarray, shape: tuple[int, int]) -> FrameJob:
        if self.closed or self._worker.failure is not None:
            raise self._closed_error()
        return FrameJob(frame, style, shape, upscale=self.upscale)

    def submit_nowait(self, frame: Frame, style: np.ndarray, shape: tuple[int, int]) -> Future[Frame]:
        """Queue a frame without waiting (a full ``lossless`` lane raises ``BufferError``)."""
        job = self._job(frame, style, shape)
        try:
            if not self._buffer.put_nowait(job):
                raise BufferError(f"lane {self.name!r} is full")
        except BufferClosed:
            raise self._closed_error() from None
        self._count(submitted=1)
        return job.future

    def submit(
        self, frame: Frame, style: np.ndarray, shape: tuple[int, int], timeout: float | None = None
    ) -> Future[Frame]:
        """Queue a frame from a thread, waiting for room in a ``lossless`` lane."""
        job = self._job(frame, style, shape)
        try:
            self._buffer.put(job, timeout)
        except BufferClosed:
            raise self._closed_error() from None
        self._count(submitted=1)
        return job.future

    async def submit_async(self, frame: Frame, style: np.ndarray, shape: tuple[int, int]) -> Future[Frame]:
        """Queue a frame from a coroutine, waiting (without blocking the loop) for room."""
        job = self._job(frame, style, shape)
        try:
            await self._buffer.put_async(job)
        except BufferClosed:
            raise self._closed_error() from None
        self._count(submitted=1)
        return job.future

    def _take(self) -> FrameJob | None:
        try:
            return self._buffer.get_nowait()
        except (IndexError, BufferClosed):
            return None

    def _peek_shape(self) -> tuple[int, int] | None:
        head = self._buffer.peek()
        return head.shape if head is not None else None

    def close(self) -> None:
        """Stop accepting frames; frames still queued are dropped (and counted), or fail with
        the worker's failure if it has failed."""
        self._buffer.close()
        failure = self._worker.failure
        for job in self._buffer.drain():
            if failure is not None:
                self._fail(job, engine_failed(failure))
            else:
                self._drop(job)
        self._worker._remove_lane(self)


class InferenceWorker:
    """The thread that owns the :class:`~streamer.inference.stylizer.Stylizer`.

    :param open_stylizer: builds the stylizer; called on the worker thread.
    :param max_batch: most frames (from distinct lanes) run in one transform call.

    .. code-block:: python

        worker = InferenceWorker(lambda: Stylizer.open(model_set, BackendOptions()))
        report = worker.start()
        lane = worker.open_lane("file", QueuePolicy.LOSSLESS, capacity=4)
        stylized = lane.submit(frame, embedding, (384, 512)).result()
        worker.close()
    """

    def __init__(self, open_stylizer: Callable[[], FrameStylizer], max_batch: int = 4,
                 name: str = "streamer-inference") -> None:
        self._open_stylizer = open_stylizer
        self.max_batch = max(1, max_batch)
        self.stats = WorkerStats()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._cond = threading.Condition()
        self._signaled = False
        self._closing = False
        self._drain_on_close = True
        self._lanes: list[Lane] = []
        self._next_lane = 0
        self._calls: list[tuple[Callable[[FrameStylizer], Any], Future[Any]]] = []
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stylizer: FrameStylizer | None = None
        self.report: BackendReport | None = None
        self.failure: BaseException | None = None  #: what stopped the thread, if it failed

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> BackendReport:
        """Start the thread and wait until its models are loaded; re-raise a loading error."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the inference thread did not start in time")
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error
        assert self.report is not None
        return self.report

    @property
    def stylizer(self) -> FrameStylizer | None:
        """What the thread owns (None before it started or after it stopped); use it there only."""
        return self._stylizer

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread.is_alive()

    def close(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop the thread and release the models.

        :param drain: finish frames already queued (True) or drop them (False). Either way
            every queued frame is processed or counted as dropped.
        """
        with self._cond:
            self._closing = True
            self._drain_on_close = drain
            self._signaled = True
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def abort(self, cause: BaseException) -> None:
        """Fail the worker from another thread (a supervisor saw what the stylizer needs die):
        queued frames and calls fail with ``cause``, lanes close, the thread stops."""
        with self._cond:
            if self.failure is None:
                self.failure = cause
            self._closing = True
            self._drain_on_close = False
            self._signaled = True
            self._cond.notify_all()

    # -- producers ------------------------------------------------------------------------
    def open_lane(self, name: str, policy: QueuePolicy = QueuePolicy.LOSSLESS, capacity: int = 2,
                  upscale: bool = True) -> Lane:
        """Add a lane (one per stream or session); with ``upscale`` False its results stay at
        the processing shape.

        :raises EngineClosedError: the thread is stopping, or has failed (with the cause).
        """
        lane = Lane(self, name, policy, capacity, upscale)
        with self._cond:
            self._refuse_if_closing()
            self._lanes.append(lane)
        return lane

    def _refuse_if_closing(self) -> None:
        if self.failure is not None:
            raise engine_failed(self.failure)
        if self._closing or (self._ready.is_set() and not self._thread.is_alive()):
            raise EngineClosedError("the inference thread is stopped")

    def call(self, fn: Callable[[FrameStylizer], T]) -> Future[T]:
        """Run ``fn(stylizer)`` on the inference thread, ahead of queued frames."""
        future: Future[T] = Future()
        with self._cond:
            self._refuse_if_closing()
            self._calls.append((fn, future))
            self._signaled = True
            self._cond.notify_all()
        return future

    @property
    def lanes(self) -> list[Lane]:
        """Open lanes."""
        with self._cond:
            return list(self._lanes)

    def _remove_lane(self, lane: Lane) -> None:
        with self._cond:
            if lane in self._lanes:
                self._lanes.remove(lane)

    def _wake(self) -> None:
        with self._cond:
            self._signaled = True
            self._cond.notify_all()

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._stylizer = self._open_stylizer()
            self.report = self._stylizer.report
        except BaseException as exc:  # reported to start(), which re-raises it
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._serve()
        except BaseException as exc:
            logger.error("the inference thread failed: %s", exc, exc_info=exc)
            self._fail(exc)
        finally:
            self._shutdown()

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self.failure is None:
                self.failure = exc
            self._closing = True

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._signaled:
                    self._cond.wait()
                self._signaled = False
                calls, self._calls = self._calls, []
                closing, drain = self._closing, self._drain_on_close
            for fn, future in calls:
                self._run_call(fn, future)
            if closing and not drain:
                return
            while (batch := self._next_batch()) is not None:
                self._process(*batch)
                with self._cond:
                    if self._calls or (self._closing and not self._drain_on_close):
                        self._signaled = True
                        break
            if closing:
                return

    def _run_call(self, fn: Callable[[FrameStylizer], Any], future: Future[Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            assert self._stylizer is not None
            future.set_result(fn(self._stylizer))
        except BaseException as exc:
            future.set_exception(exc)

    def _next_batch(self) -> tuple[tuple[int, int], list[tuple[Lane, FrameJob]]] | None:
        """Take the head frame of the next lane (round-robin) plus same-shape heads of others."""
        lanes = self.lanes
        if not lanes:
            return None
        start = self._next_lane % len(lanes)
        order = lanes[start:] + lanes[:start]
        for offset, lane in enumerate(order):
            job = lane._take()
            if job is None:
                continue
            self._next_lane = start + offset + 1
            picked = [(lane, job)]
            for other in order[offset + 1:]:
                if len(picked) >= self.max_batch:
                    break
                if other._peek_shape() == job.shape and (extra := other._take()) is not None:
                    picked.append((other, extra))
            return job.shape, picked
        return None

    def _process(self, shape: tuple[int, int], picked: list[tuple[Lane, FrameJob]]) -> None:
        live = [(lane, job) for lane, job in picked if job.future.set_running_or_notify_cancel()]
        for lane, job in picked:
            if (lane, job) not in live:
                lane._count(dropped=1)
        if not live:
            return
        assert self._stylizer is not None
        started = time.perf_counter()
        try:
            results = self._stylizer.stylize([j.frame for _, j in live], [j.style for _, j in live], shape,
                                             [j.upscale for _, j in live])
        except BaseException as exc:
            self._fail(exc)  # before any future fails: whoever sees one sees a failed worker
            error = engine_failed(exc)
            for lane, job in live:
                lane._count(failed=1)
                job.future.set_exception(error)
            raise
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.frames += len(live)
        self.stats.busy_seconds += elapsed
        if len(live) > 1 and self._stylizer.supports_batching:
            self.stats.batched_frames += len(live)
        for (lane, job), result in zip(live, results, strict=True):
            lane._count(processed=1, inference_seconds=elapsed / len(live))
            job.future.set_result(result)

    def _shutdown(self) -> None:
        with self._cond:
            self._closing = True
            calls, self._calls = self._calls, []
            lanes = list(self._lanes)
        for _, future in calls:
            if future.set_running_or_notify_cancel():
                future.set_exception(engine_failed(self.failure) if self.failure is not None
                                     else EngineClosedError("the inference thread stopped"))
        for lane in lanes:
            lane.close()
            if lane._on_shutdown is not None:
                try:
                    lane._on_shutdown(self.failure)
                except Exception:
                    logger.exception("a lane's shutdown callback failed")
        if self._stylizer is not None:
            self._stylizer.close()
            self._stylizer = None

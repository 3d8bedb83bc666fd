"""The live session: source -> capture thread -> engine (drop-oldest) -> sinks, latency first.

Only the newest frame waits anywhere: the capture slot holds one frame, the engine's ``latest``
queue holds ``capacity`` frames (1 by default) and replaces the oldest, each sink's buffer
drops its oldest. When inference is slower than the source, frames are dropped (and counted)
instead of queued, so capture-to-output latency stays about one inference plus at most one
frame interval.

.. code-block:: python

    async with Engine.create("fast") as engine:
        session = LiveSession(engine, StreamSource("rtsp://cam/stream"),
                              [RtspSink("rtsp://127.0.0.1:8554/styled")], StyleRecipe.of("starry"))
        result = await session.run()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from ..buffers import BufferClosed, FrameBuffer
from ..config import ProcessingSize, QueuePolicy
from ..engine import Engine, EngineStream
from ..errors import EngineClosedError, FrameDropped, StreamerError
from ..frames import Frame
from ..sinks.base import Sink
from ..sources.base import AudioPacket, Source, SourceInfo
from ..styles import StyleRecipe
from .capture import Backoff, CaptureThread
from .clock import Timeline
from .controls import Command, StyleControl
from .fanout import SinkRunner
from .stats import LatencyMeter, LiveSnapshot, RateMeter

__all__ = ["LiveResult", "LiveSession", "LiveSettings"]

logger = logging.getLogger(__name__)

#: at shutdown, how long to wait for the frame in inference (a slow model on a busy machine)
_DRAIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class LiveSettings:
    """How a session runs.

    :param size: processing resolution.
    :param capacity: frames allowed to wait for inference (drop-oldest beyond that).
    :param duration: stop after this many seconds (None: run until stopped).
    :param max_frames: stop after this many output frames.
    :param retry_for: seconds to keep reconnecting a network source (0: never reconnect).
    :param status_interval: seconds between status snapshots.
    :param sink_capacity: frames (and audio packets) queued per sink; recordings get more.
    """

    size: ProcessingSize = ProcessingSize(480)
    capacity: int = 1
    duration: float | None = None
    max_frames: int | None = None
    retry_for: float = 30.0
    status_interval: float = 1.0
    sink_capacity: int = 2


@dataclass(frozen=True)
class LiveResult:
    """How a session ended: why, with what error (if it failed), and its final numbers."""

    reason: str
    error: BaseException | None
    snapshot: LiveSnapshot
    latencies: list[float]  #: capture -> output seconds of the last frames (up to 600)


@dataclass(frozen=True)
class _Stop:
    reason: str
    error: BaseException | None = None


class LiveSession:
    """One live run; create a new one for each run.

    :param engine: a started engine.
    :param source: where frames come from (the session opens and closes it).
    :param sinks: where stylized frames go (opened on the first frame, closed at the end).
    :param recipe: the style to start with.
    :param cycle: more styles that "next style" (key ``n``, SIGUSR1) steps through.
    :param on_status: called on the event loop with a snapshot every ``status_interval``.
    """

    def __init__(
        self,
        engine: Engine,
        source: Source,
        sinks: Sequence[Sink],
        recipe: StyleRecipe,
        *,
        settings: LiveSettings | None = None,
        cycle: Sequence[str] = (),
        on_status: Callable[[LiveSnapshot], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or LiveSettings()
        self.control = StyleControl(engine.styles, recipe, cycle)
        self.on_status = on_status
        self.inbox: FrameBuffer[Command | _Stop] = FrameBuffer(32, QueuePolicy.LATEST)
        self.runners = [SinkRunner(s, capacity=self._sink_capacity(s), backoff=backoff,
                                   on_stop=self.request_stop) for s in sinks]
        audio = any(s.accepts_audio for s in sinks)
        self.capture = CaptureThread(source, Timeline(), retry_for=self.settings.retry_for, backoff=backoff,
                                     on_audio=self._audio if audio else None)
        self.latency = LatencyMeter()
        self.fps_out = RateMeter()
        self.frames_out = 0
        self.max_pending = 0
        self.stream: EngineStream | None = None
        # frames leaving the engine, on their way to the sinks (filled on the inference thread)
        self._results: FrameBuffer[Frame | _Stop] = FrameBuffer(8, QueuePolicy.LATEST)
        self._inflight: set[Future[Frame]] = set()
        self._inflight_lock = threading.Lock()
        self._latest: np.ndarray | None = None
        self._started = 0.0
        self._state = "new"

    def _sink_capacity(self, sink: Sink) -> int:
        # a recording also carries the audio of about a second
        return max(self.settings.sink_capacity, 128 if sink.accepts_audio else 0)

    # -- commands from anywhere -----------------------------------------------------------
    def command(self, command: Command) -> None:
        """Queue a run-time command (thread-safe; never blocks)."""
        with contextlib.suppress(BufferClosed):
            self.inbox.put_nowait(command)

    def request_stop(self, reason: str = "stopped", error: BaseException | None = None) -> None:
        """Ask the session to stop cleanly (thread-safe; never blocks)."""
        with contextlib.suppress(BufferClosed):
            self.inbox.put_nowait(_Stop(reason, error))

    def _audio(self, packet: AudioPacket) -> None:
        for runner in self.runners:
            runner.offer(packet)

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> LiveResult:
        """Open everything, run until stopped (command, signal, source end, limit), close
        everything; sink and source failures are returned in :attr:`LiveResult.error`.

        :raises SourceOpenError: the source cannot be opened at all.
        :raises SinkError: a sink cannot work here (checked before the source opens).
        """
        if self._state != "new":
            raise RuntimeError("a LiveSession runs once; create a new one")
        self._state = "starting"
        for runner in self.runners:
            runner.sink.check()
        await self.control.load()
        self._started = time.monotonic()
        info = await self._open_source()
        tasks: list[asyncio.Task[None]] = []
        stop = _Stop("stopped")
        try:
            self.stream = self.engine.open_stream("live", QueuePolicy.LATEST, self.settings.capacity,
                                                  self.settings.size)
            for runner in self.runners:
                runner.start(info)
            self.capture.start()
            self._state = "running"
            tasks = [asyncio.create_task(self._pump(), name="live-pump"),
                     asyncio.create_task(self._collect(), name="live-collect"),
                     asyncio.create_task(self._report(), name="live-status")]
            if self.settings.duration is not None:
                tasks.append(asyncio.create_task(self._time_limit(self.settings.duration)))
            stop = await self._serve_commands()
        finally:
            self._state = "stopping"
            await self._shutdown(tasks)
        error = stop.error or self.capture.error or next((r.error for r in self.runners if r.error), None)
        snapshot = self.snapshot()
        if self.on_status is not None:
            self.on_status(snapshot)
        return LiveResult(stop.reason, error, snapshot, self.latency.samples())

    async def _open_source(self) -> SourceInfo:
        try:
            return await asyncio.to_thread(self.capture.open)
        except BaseException:
            await asyncio.to_thread(self.capture.stop)
            raise

    async def _serve_commands(self) -> _Stop:
        while True:
            item = await self.inbox.get_async()
            if isinstance(item, _Stop):
                return item
            if item is Command.STOP:
                return _Stop("stopped")
            message = await self.control.apply(item, self._latest)
            logger.warning("%s", message)

    async def _time_limit(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.request_stop(f"ran {seconds:g} s")

    async def _pump(self) -> None:
        """Captured frames into the engine; the newest always wins. Never waits for inference:
        a frame still queued when a newer one arrives is dropped by the engine's queue."""
        assert self.stream is not None
        try:
            while True:
                try:
                    frame = await self.capture.frames.get_async()
                except BufferClosed:
                    self.request_stop("source ended")
                    return
                self._latest = frame.image
                if self.control.embedding is None:
                    await self.control.prepare(frame.image)
                future = self.stream.submit_nowait(frame, self.control.embedding)
                with self._inflight_lock:
                    self._inflight.add(future)
                future.add_done_callback(self._finished)
                self.max_pending = max(self.max_pending, self.stream.stats.pending)
        except EngineClosedError as exc:
            self.request_stop("engine stopped", exc)
        except StreamerError as exc:
            self.request_stop("cannot stylize", exc)

    def _finished(self, future: Future[Frame]) -> None:
        """A frame left the engine (on the inference thread): pass it on unless it was dropped."""
        with self._inflight_lock:
            self._inflight.discard(future)
        item: Frame | _Stop
        try:
            item = future.result()
        except (FrameDropped, EngineClosedError):
            return
        except Exception as exc:  # inference failed: the collector says why and stops
            item = _Stop("inference failed", exc)
        with contextlib.suppress(BufferClosed):
            self._results.put_nowait(item)

    async def _collect(self) -> None:
        """Stylized frames, in order, out to every sink."""
        while True:
            try:
                item = await self._results.get_async()
            except BufferClosed:
                return
            if isinstance(item, _Stop):
                self.request_stop(item.reason, item.error)
                continue
            now = time.monotonic()
            self.latency.add(now - item.captured_at)
            self.fps_out.tick(now)
            self.frames_out += 1
            for runner in self.runners:
                runner.offer(item)
            limit = self.settings.max_frames
            if limit is not None and self.frames_out >= limit:
                self.request_stop(f"{limit} frames written")

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval)
            if self.on_status is not None:
                self.on_status(self.snapshot())

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        await asyncio.to_thread(self.capture.stop)  # the pump sees the end of the frames
        for task in tasks:
            if task.get_name() != "live-collect":
                task.cancel()
        if self.stream is not None:
            self.stream.close()  # frames still queued are dropped; the one in inference finishes
        with self._inflight_lock:
            inflight = [asyncio.wrap_future(f) for f in self._inflight]
        if inflight:
            await asyncio.wait(inflight, timeout=_DRAIN_TIMEOUT)
        self._results.close()  # the collector hands out what is left, then ends
        await asyncio.gather(*tasks, return_exceptions=True)
        for runner in self.runners:  # write what is queued; finalize recordings
            await asyncio.to_thread(runner.close)
        self.inbox.close()
        self._state = "ended"

    # -- numbers --------------------------------------------------------------------------
    def snapshot(self) -> LiveSnapshot:
        """The session's numbers now."""
        stats = self.stream.stats if self.stream is not None else None
        inference = (stats.inference_seconds / stats.processed * 1000.0) if stats and stats.processed else None
        p50, p95 = self.latency.percentile(50), self.latency.percentile(95)
        capture = self.capture
        state = self._state
        if state == "running" and capture.state.value != "running":
            state = capture.state.value
        return LiveSnapshot(
            elapsed_s=round(time.monotonic() - self._started, 3) if self._started else 0.0,
            state=state,
            source=capture.info.description if capture.info else "",
            backend=_backend_label(self.engine),
            style=self.control.style_name,
            strength=self.control.strength,
            fps_in=capture.rate.rate(),
            fps_out=self.fps_out.rate(),
            inference_ms=None if inference is None else round(inference, 1),
            latency_p50_ms=None if p50 is None else round(p50 * 1000.0, 1),
            latency_p95_ms=None if p95 is None else round(p95 * 1000.0, 1),
            frames_in=capture.captured,
            frames_out=self.frames_out,
            dropped_capture=capture.replaced,
            dropped_engine=(stats.dropped if stats else 0) + self._results.dropped,
            max_pending=self.max_pending,
            reconnects=capture.reconnects,
            last_error=capture.last_error,
            sinks={r.sink.name: r.stats() for r in self.runners},
        )


def _backend_label(engine: Engine) -> str:
    report = engine.report
    return f"{report.backend.value} {report.precision.value} ({report.detail})"

"""The live session: source -> capture thread -> engine stream (drop-oldest) -> sinks, latency first.

A thin adapter around an :class:`~streamer.stream.EngineStream`: a pump submits captured frames
to it, a collector reads its results and offers them to every sink. Only the newest frame waits
anywhere: the capture slot holds one frame, the stream's ``latest`` queue holds ``capacity``
frames (1 by default) and replaces the oldest, each sink's buffer drops its oldest. When
inference is slower than the source, frames are dropped (and counted) instead of queued, so
capture-to-output latency stays about one inference plus at most one frame interval.

Stop requests (a command, a signal, a failing sink, the source's end, an inference failure)
are never dropped: the first one is kept and ends the run; style commands wait in a queue of
their own.

.. code-block:: python

    async with Engine.create("fast") as engine:
        session = LiveSession(engine, StreamSource("rtsp://cam/stream"),
                              [RtspSink("rtsp://127.0.0.1:8554/styled")], StyleRecipe.of("starry"))
        result = await session.run()
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..buffers import BufferClosed, FrameBuffer
from ..config import ProcessingSize, QueuePolicy
from ..engine import Engine
from ..errors import EngineClosedError, StreamerError
from ..sinks.base import Sink
from ..sources.base import AudioPacket, Source, SourceInfo
from ..stream import EngineStream
from ..styles import StyleRecipe
from ..tasks import spawn_supervised
from .capture import Backoff, CaptureThread
from .clock import Timeline
from .controls import Command, StyleControl
from .fanout import SinkRunner
from .stats import LiveSnapshot

__all__ = ["LiveResult", "LiveSession", "LiveSettings"]

logger = logging.getLogger(__name__)

#: at shutdown, how long to wait for the frame in inference (a slow model on a busy machine)
_DRAIN_TIMEOUT = 30.0
#: style commands waiting to be applied; a key pressed beyond that is refused (and logged)
_COMMAND_CAPACITY = 32
#: stylized frames waiting for the collector (it only hands them to the sinks' own buffers)
_RESULTS_CAPACITY = 8


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
        self.control = StyleControl(recipe, cycle)
        self.on_status = on_status
        self.commands: FrameBuffer[Command] = FrameBuffer(_COMMAND_CAPACITY, QueuePolicy.LOSSLESS)
        self._stop: _Stop | None = None
        self._stop_lock = threading.Lock()
        self.runners = [SinkRunner(s, capacity=self._sink_capacity(s), backoff=backoff,
                                   on_stop=self.request_stop) for s in sinks]
        audio = any(s.accepts_audio for s in sinks)
        self.capture = CaptureThread(source, Timeline(), retry_for=self.settings.retry_for, backoff=backoff,
                                     on_audio=self._audio if audio else None)
        self.frames_out = 0
        self.max_pending = 0
        self.stream: EngineStream | None = None
        self._started = 0.0
        self._state = "new"

    def _sink_capacity(self, sink: Sink) -> int:
        # a recording also carries the audio of about a second
        return max(self.settings.sink_capacity, 128 if sink.accepts_audio else 0)

    # -- commands from anywhere -----------------------------------------------------------
    def command(self, command: Command) -> None:
        """Queue a run-time command (thread-safe; never blocks)."""
        if command is Command.STOP:
            self.request_stop("stopped")
            return
        try:
            if not self.commands.put_nowait(command):
                logger.warning("ignored %s: %d commands are still waiting", command.value, _COMMAND_CAPACITY)
        except BufferClosed:
            pass

    def request_stop(self, reason: str = "stopped", error: BaseException | None = None) -> None:
        """Ask the session to stop cleanly (thread-safe; never blocks). The first request wins;
        it is never dropped."""
        with self._stop_lock:
            if self._stop is None:
                self._stop = _Stop(reason, error)
        self.commands.close()  # wakes the command loop, which sees the stop

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
        stream = self.engine.open_stream("live", QueuePolicy.LATEST, self.settings.capacity, self.settings.size,
                                         results=_RESULTS_CAPACITY)
        try:
            await stream.set_style(self.control.recipe)  # a bad style fails before the source opens
            self._started = time.monotonic()
            info = await self._open_source()
        except BaseException:
            stream.close()
            raise
        self.stream = stream
        tasks: list[asyncio.Task[None]] = []
        stop = _Stop("stopped")
        try:
            for runner in self.runners:
                runner.start(info)
            self.capture.start()
            self._state = "running"
            tasks = [spawn_supervised(self._pump(), "live-pump", self._task_failed),
                     spawn_supervised(self._collect(), "live-collect", self._task_failed),
                     spawn_supervised(self._report(), "live-status", self._task_failed)]
            if self.settings.duration is not None:
                tasks.append(spawn_supervised(self._time_limit(self.settings.duration), "live-time-limit",
                                              self._task_failed))
            stop = await self._serve_commands()
        finally:
            self._state = "stopping"
            await self._shutdown(tasks)
        error = stop.error or self.capture.error or next((r.error for r in self.runners if r.error), None)
        snapshot = self.snapshot()
        if self.on_status is not None:
            self.on_status(snapshot)
        return LiveResult(stop.reason, error, snapshot, stream.meters.latency.samples())

    def _task_failed(self, name: str, error: BaseException) -> None:
        self.request_stop(f"internal error in {name}", error)

    async def _open_source(self) -> SourceInfo:
        try:
            return await asyncio.to_thread(self.capture.open)
        except BaseException:
            await asyncio.to_thread(self.capture.stop)
            raise

    async def _serve_commands(self) -> _Stop:
        assert self.stream is not None
        while self._stop is None:
            try:
                command = await self.commands.get_async()
            except BufferClosed:
                break
            if self._stop is None:
                logger.warning("%s", await self.control.apply(command, self.stream))
        assert self._stop is not None
        return self._stop

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
                await self.stream.submit(frame)
                self.max_pending = max(self.max_pending, self.stream.stats.pending)
        except EngineClosedError as exc:
            self.request_stop("inference failed" if exc.cause is not None else "engine stopped", exc)
        except StreamerError as exc:
            self.request_stop("cannot stylize", exc)

    async def _collect(self) -> None:
        """Stylized frames, in order, out to every sink."""
        assert self.stream is not None
        try:
            async for frame in self.stream.results():
                self.frames_out += 1
                for runner in self.runners:
                    runner.offer(frame)
                limit = self.settings.max_frames
                if limit is not None and self.frames_out >= limit:
                    self.request_stop(f"{limit} frames written")
        except EngineClosedError as exc:
            self.request_stop("inference failed", exc)

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
            # frames still queued are dropped; the one in inference finishes and reaches the
            # collector, which hands out what is left, then ends
            await self.stream.aclose(_DRAIN_TIMEOUT)
        await asyncio.gather(*tasks, return_exceptions=True)
        for runner in self.runners:  # write what is queued; finalize recordings
            await asyncio.to_thread(runner.close)
        self.commands.close()
        self._state = "ended"

    # -- numbers --------------------------------------------------------------------------
    def snapshot(self) -> LiveSnapshot:
        """The session's numbers now."""
        stream = self.stream
        stats = stream.stats if stream is not None else None
        inference = (stats.inference_seconds / stats.processed * 1000.0) if stats and stats.processed else None
        latency = stream.meters.latency if stream is not None else None
        p50 = latency.percentile_ms(50) if latency is not None else None
        p95 = latency.percentile_ms(95) if latency is not None else None
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
            fps_out=stream.meters.frames_out.rate() if stream is not None else 0.0,
            inference_ms=None if inference is None else round(inference, 1),
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            frames_in=capture.captured,
            frames_out=self.frames_out,
            dropped_capture=capture.replaced,
            dropped_engine=stream.dropped if stream is not None else 0,
            max_pending=self.max_pending,
            reconnects=capture.reconnects,
            last_error=capture.last_error,
            sinks={r.sink.name: r.stats() for r in self.runners},
        )


def _backend_label(engine: Engine) -> str:
    report = engine.report
    return f"{report.backend.value} {report.precision.value} ({report.detail})"

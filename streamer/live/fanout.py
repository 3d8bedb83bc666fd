"""Fan-out: each sink runs on its own thread behind its own small drop-oldest buffer, so a slow
or stalled sink loses its own oldest frames and never holds back the others."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..errors import SinkError
from ..frames import Frame
from ..metrics import LatencyMeter
from ..sinks.base import Sink, SinkClosed
from ..sources.base import AudioPacket, SourceInfo
from .capture import Backoff

__all__ = ["SinkRunner"]

logger = logging.getLogger(__name__)

#: how often an idle sink is polled (keeps a preview window responsive)
_IDLE_POLL = 0.05

#: audio packets kept while a sink waits for its first frame (a few seconds of audio)
_EARLY_AUDIO = 256

StopCallback = Callable[[str, BaseException | None], None]


class SinkRunner:
    """Drives one :class:`~streamer.sinks.base.Sink` on its own thread.

    :param sink: the sink (opened on the first frame, closed when the runner closes).
    :param capacity: items queued for this sink; beyond that the oldest is dropped.
    :param backoff: delays between reopen attempts of a reconnectable sink.
    :param on_stop: called (on the sink thread) with a reason and the error, if any, when the
        sink ends the session: it failed, or its user closed it.
    """

    def __init__(self, sink: Sink, *, capacity: int = 2, backoff: Backoff | None = None,
                 on_stop: StopCallback | None = None) -> None:
        self.sink = sink
        self.items: FrameBuffer[Frame | AudioPacket] = FrameBuffer(capacity, QueuePolicy.LATEST)
        self.latency = LatencyMeter()
        self.written = 0
        self.reopens = 0
        self.error: BaseException | None = None
        self._backoff = backoff or Backoff()
        self._on_stop = on_stop
        self._source: SourceInfo | None = None
        self._opened = False
        self._retry_at = 0.0
        self._early_audio: deque[AudioPacket] = deque(maxlen=_EARLY_AUDIO)
        self._thread = threading.Thread(target=self._run, name=f"streamer-sink-{sink.name.split()[0]}",
                                        daemon=True)

    def start(self, source: SourceInfo) -> None:
        """Start the thread; ``source`` describes what the frames come from."""
        self._source = source
        self._thread.start()

    def offer(self, item: Frame | AudioPacket) -> None:
        """Queue a frame or audio packet without waiting (thread-safe)."""
        if isinstance(item, AudioPacket) and not self.sink.accepts_audio:
            return
        try:
            self.items.put_nowait(item)
        except BufferClosed:
            pass

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, close the sink (finalizing a recording), join the thread."""
        self.items.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        """Counters and latency of this sink (capture -> written)."""
        p50, p95 = self.latency.percentile(50), self.latency.percentile(95)
        return {
            "written": self.written,
            "dropped": self.items.dropped,
            "reopens": self.reopens,
            "latency_p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "latency_p95_ms": None if p95 is None else round(p95 * 1000, 1),
            "error": None if self.error is None else str(self.error),
        }

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        except SinkClosed as exc:
            self._stop(str(exc) or f"{self.sink.name} closed", None)
        except BaseException as exc:  # reported to the session, which stops and says why
            self.error = exc
            if not isinstance(exc, SinkError):
                logger.exception("%s failed", self.sink.name)
            self._stop(f"{self.sink.name} failed", exc)
        finally:
            self.items.close()
            self.items.drain()
            self._close_sink()

    def _serve(self) -> None:
        while True:
            try:
                item = self.items.get(timeout=_IDLE_POLL)
            except TimeoutError:
                if self._opened:
                    self.sink.idle()
                continue
            except BufferClosed:
                return
            if isinstance(item, AudioPacket):
                if self._opened:
                    self.sink.write_audio(item)
                else:  # audio arrives before the first stylized frame opens the sink
                    self._early_audio.append(item)
            elif self._ensure_open(item):
                self._write(item)

    def _ensure_open(self, frame: Frame) -> bool:
        if self._opened:
            return True
        if time.monotonic() < self._retry_at:
            return False
        assert self._source is not None
        try:
            self.sink.open(frame, self._source)
        except SinkError as exc:
            self._retry_later(exc, "cannot open")
            return False
        self._opened = True
        while self._early_audio:
            self.sink.write_audio(self._early_audio.popleft())
        return True

    def _write(self, frame: Frame) -> None:
        try:
            self.sink.write(frame)
        except SinkError as exc:
            self._close_sink()
            self._retry_later(exc, "lost")
            return
        self.written += 1
        self.latency.add(time.monotonic() - frame.captured_at)
        self._backoff.reset()

    def _retry_later(self, exc: SinkError, what: str) -> None:
        if not self.sink.reconnectable:
            raise exc
        delay = self._backoff.next()
        self.reopens += 1
        logger.warning("%s %s: %s; retrying in %.1f s", what, self.sink.name, exc, delay)
        self._retry_at = time.monotonic() + delay

    def _close_sink(self) -> None:
        if not self._opened:
            return
        self._opened = False
        try:
            self.sink.close()
        except SinkError as exc:
            if self.error is None:
                self.error = exc
                self._stop(f"{self.sink.name} failed", exc)

    def _stop(self, reason: str, error: BaseException | None) -> None:
        if self._on_stop is not None:
            self._on_stop(reason, error)

"""The capture thread: reads a source as fast as it delivers, keeps only the newest frame, and
reconnects network sources with backoff when they drop or stall.

.. code-block:: python

    capture = CaptureThread(StreamSource("rtsp://cam/stream"), Timeline())
    info = capture.open()                 # first open: errors go to the caller
    capture.start()
    frame = await capture.frames.get_async()
    capture.stop()
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..errors import MediaError, SourceEndedError
from ..frames import Frame
from ..metrics import RateMeter
from ..sources.base import AudioPacket, Source, SourceInfo
from .clock import Timeline

__all__ = ["Backoff", "CaptureState", "CaptureThread"]

logger = logging.getLogger(__name__)


class CaptureState(enum.StrEnum):
    """What the capture thread is doing."""

    NEW = "new"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


@dataclass
class Backoff:
    """Delays between reconnect attempts: ``initial``, doubling up to ``maximum`` seconds.

    The cap is short on purpose: a camera or server that comes back is picked up within about
    a second, and an attempt on a dead host costs little (a refused connection).
    """

    initial: float = 0.25
    maximum: float = 1.0
    factor: float = 2.0
    _next: float = 0.0

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._next = self.initial

    def next(self) -> float:
        """The delay before the next attempt."""
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return delay


class CaptureThread:
    """Owns a :class:`~streamer.sources.base.Source` and reads it on its own thread.

    :param source: the source (opened by :meth:`open`, closed when the thread ends).
    :param timeline: stamps frames and audio onto the session clock.
    :param retry_for: how long (seconds) to keep trying to reconnect a network source before
        giving up; 0 disables reconnecting.
    :param backoff: delays between reconnect attempts.
    :param on_audio: receives stamped audio packets (on this thread).

    :attr:`frames` holds only the newest frame (``QueuePolicy.LATEST``, capacity 1): a consumer
    that falls behind always gets the freshest frame, and the replaced ones are counted.
    """

    def __init__(
        self,
        source: Source,
        timeline: Timeline,
        *,
        retry_for: float = 30.0,
        backoff: Backoff | None = None,
        on_audio: Callable[[AudioPacket], None] | None = None,
    ) -> None:
        self.source = source
        self.timeline = timeline
        self.retry_for = retry_for
        self.backoff = backoff or Backoff()
        self.frames: FrameBuffer[Frame] = FrameBuffer(1, QueuePolicy.LATEST)
        self.state = CaptureState.NEW
        self.info: SourceInfo | None = None
        self.captured = 0
        self.rate = RateMeter()  #: frames per second arriving from the source
        self.disconnects = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self.error: MediaError | None = None  #: why the source ended, if it was not a normal end
        self._on_audio = on_audio
        self._epoch = 0
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="streamer-capture", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> SourceInfo:
        """Open the source for the first time (blocking); errors are raised to the caller."""
        self.info = self.source.open()
        self._epoch = self.source.epoch
        if self._on_audio is not None:
            self.source.on_audio = self._stamp_audio
        for note in self.info.notes:
            logger.warning("%s", note)
        return self.info

    def start(self) -> None:
        """Start reading (after :meth:`open`)."""
        self._set_state(CaptureState.RUNNING)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading, close the source and wait for the thread (blocking). Idempotent."""
        self._stop.set()
        self.source.interrupt()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self.source.close()
        self.frames.close()

    @property
    def replaced(self) -> int:
        """Frames replaced in the slot before the consumer took them."""
        return self.frames.dropped

    def wait_for(self, predicate: Callable[[CaptureThread], bool], timeout: float) -> bool:
        """Block until ``predicate(self)`` holds (checked at every state change and frame)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    # -- the thread -----------------------------------------------------------------------
    def _set_state(self, state: CaptureState) -> None:
        with self._changed:
            self.state = state
            self._changed.notify_all()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except MediaError as exc:
                    if self._stop.is_set() or not self._recover(exc):
                        break
                    continue
                self._deliver(frame)
        except BaseException as exc:  # a thread must report, not die silently
            logger.exception("capture thread failed")
            self.error = MediaError(f"capture failed: {exc}")
        finally:
            self.source.close()
            self._set_state(CaptureState.ENDED)
            self.frames.close()

    def _deliver(self, frame: Frame) -> None:
        if self.source.epoch != self._epoch:  # a looping file started over
            self._epoch = self.source.epoch
            self.timeline.new_segment()
        self.timeline.stamp(frame)
        try:
            self.frames.put_nowait(frame)
        except BufferClosed:
            self._stop.set()
            return
        self.rate.tick(frame.captured_at)
        with self._changed:
            self.captured += 1
            self._changed.notify_all()

    def _stamp_audio(self, packet: AudioPacket) -> None:
        if self._on_audio is None:
            return
        av_packet = packet.packet
        pts = self.timeline.audio_pts(packet.time, packet.captured_at, av_packet.time_base)
        if pts is None:
            return
        av_packet.pts = av_packet.dts = pts
        self._on_audio(packet)

    def _recover(self, exc: MediaError) -> bool:
        """Handle a read failure: True if reading can go on (reconnected)."""
        info = self.info
        self.last_error = str(exc)
        if info is None or not info.reconnectable or self.retry_for <= 0:
            if not (info is not None and info.finite and isinstance(exc, SourceEndedError)):
                self.error = exc
            logger.info("%s", exc)
            return False
        self.disconnects += 1
        self._set_state(CaptureState.RECONNECTING)
        logger.warning("%s; reconnecting", exc)
        return self._reconnect(info.description)

    def _reconnect(self, description: str) -> bool:
        lost_at = time.monotonic()
        self.backoff.reset()
        attempt = 0
        while not self._stop.is_set():
            self.source.close()
            delay = self.backoff.next()
            if time.monotonic() + delay - lost_at > self.retry_for:
                self.error = SourceEndedError(
                    f"{description}: gave up reconnecting after {self.retry_for:g} s ({self.last_error})")
                return False
            if self._stop.wait(delay):
                return False
            attempt += 1
            try:
                self.info = self.source.open()
            except MediaError as exc:
                self.last_error = str(exc)
                logger.warning("reconnect attempt %d to %s failed: %s", attempt, description, exc)
                continue
            self._epoch = self.source.epoch
            self.timeline.new_segment()
            with self._changed:
                self.reconnects += 1
            self._set_state(CaptureState.RUNNING)
            logger.warning("reconnected to %s after %.1f s", description, time.monotonic() - lost_at)
            return True
        return False

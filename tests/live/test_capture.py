"""The capture thread: newest frame only, reconnects with backoff, clear endings."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamer.errors import SourceEndedError, SourceOpenError, SourceTimeoutError
from streamer.frames import Frame
from streamer.live.capture import Backoff, CaptureState, CaptureThread
from streamer.live.clock import TIME_BASE, Timeline
from streamer.sources.base import Source, SourceInfo

from .fakes import PatternSource

FAST = Backoff(initial=0.01, maximum=0.05)


class ScriptedSource(Source):
    """A network-like source: each connection yields ``per_connection`` frames then drops;
    ``refuse`` reopen attempts fail before one succeeds."""

    def __init__(self, per_connection: int, refuse: int = 0, reconnectable: bool = True,
                 failure: type[Exception] = SourceEndedError) -> None:
        self.per_connection = per_connection
        self.refuse = refuse
        self.reconnectable = reconnectable
        self.failure = failure
        self.opens = 0
        self.closes = 0
        self._left = 0
        self._release = threading.Event()

    def open(self) -> SourceInfo:
        self.opens += 1
        if self.opens > 1 and self.refuse > 0:
            self.refuse -= 1
            raise SourceOpenError("connection refused")
        self._left = self.per_connection
        return SourceInfo("scripted", 4, 4, 30.0, reconnectable=self.reconnectable)

    def read(self) -> Frame:
        if self._left == 0:
            raise self.failure("connection lost")
        self._left -= 1
        return Frame(np.zeros((4, 4, 3), np.uint8), pts=None)

    def close(self) -> None:
        self.closes += 1


def test_capture_when_consumer_is_slow_holds_only_the_newest_frame(no_thread_leaks: None) -> None:
    # given a source far faster than anybody reads it
    source = PatternSource(fps=1000.0, stop_after=200)
    capture = CaptureThread(source, Timeline())
    capture.open()
    # when nobody reads until it ended
    capture.start()
    assert capture.wait_for(lambda c: c.state is CaptureState.ENDED, timeout=30)
    # then one frame is left (the last), and the others were counted as replaced
    assert len(capture.frames) == 1
    assert capture.frames.get_nowait().seq == 199
    assert capture.replaced == 199
    assert capture.error is None  # the end of a finite source is normal
    capture.stop()


def test_capture_when_frames_arrive_stamps_them_on_the_session_clock(no_thread_leaks: None) -> None:
    capture = CaptureThread(PatternSource(fps=200.0, stop_after=5), Timeline())
    capture.open()
    capture.start()
    seen = []
    while True:
        try:
            seen.append(capture.frames.get(timeout=10))
        except Exception:
            break
    capture.stop()
    assert seen and all(f.time_base == TIME_BASE for f in seen)
    stamps = [f.pts or 0 for f in seen]
    assert stamps == sorted(set(stamps))


def test_capture_when_connection_drops_reconnects_and_counts(no_thread_leaks: None) -> None:
    # given a stream that drops after 3 frames, and refuses the first two reconnects
    source = ScriptedSource(per_connection=3, refuse=2)
    capture = CaptureThread(source, Timeline(), retry_for=30, backoff=FAST)
    capture.open()
    capture.start()
    # when it has reconnected twice
    assert capture.wait_for(lambda c: c.reconnects >= 2, timeout=30)
    capture.stop()
    # then every drop was counted and the refused attempts were retried
    assert capture.disconnects >= 2
    assert source.opens >= 1 + 2 + 2
    assert capture.error is None
    assert source.closes >= source.opens


def test_capture_when_reconnects_keep_failing_gives_up_with_reason(no_thread_leaks: None) -> None:
    source = ScriptedSource(per_connection=1, refuse=10_000, failure=SourceTimeoutError)
    capture = CaptureThread(source, Timeline(), retry_for=0.3, backoff=FAST)
    capture.open()
    capture.start()
    assert capture.wait_for(lambda c: c.state is CaptureState.ENDED, timeout=30)
    capture.stop()
    assert isinstance(capture.error, SourceEndedError)
    assert "gave up reconnecting after 0.3 s" in str(capture.error)
    assert "connection refused" in str(capture.error)


def test_capture_when_camera_like_source_fails_ends_with_its_error(no_thread_leaks: None) -> None:
    source = ScriptedSource(per_connection=2, reconnectable=False)
    capture = CaptureThread(source, Timeline(), backoff=FAST)
    capture.open()
    capture.start()
    assert capture.wait_for(lambda c: c.state is CaptureState.ENDED, timeout=30)
    capture.stop()
    assert source.opens == 1
    assert str(capture.error) == "connection lost"


def test_capture_when_stopped_while_reading_ends_promptly(no_thread_leaks: None) -> None:
    capture = CaptureThread(PatternSource(fps=2.0), Timeline())
    capture.open()
    capture.start()
    capture.frames.get(timeout=10)
    capture.stop(timeout=10)
    assert capture.state is CaptureState.ENDED


def test_backoff_when_attempts_fail_doubles_up_to_its_maximum() -> None:
    backoff = Backoff(initial=0.25, maximum=2.0)
    backoff.reset()
    assert [backoff.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert Backoff().maximum <= 1.0  # what lets a session resume within seconds
    backoff.reset()
    assert backoff.next() == pytest.approx(0.25)

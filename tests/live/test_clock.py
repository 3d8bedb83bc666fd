"""The session clock: source times mapped onto one increasing timeline."""

from fractions import Fraction

import numpy as np

from streamer.frames import Frame
from streamer.live.clock import TIME_BASE, Timeline


def _frame(pts: int | None, captured_at: float, time_base: Fraction = Fraction(1, 1000)) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), pts=pts, time_base=time_base, captured_at=captured_at)


def _pts(frame: Frame) -> int:
    assert frame.pts is not None
    return frame.pts


def test_timeline_when_source_has_times_keeps_its_pacing() -> None:
    # given a timeline started at t=100 and frames whose arrival jitters
    timeline = Timeline(start=100.0)
    # when frames 40 ms apart in the source arrive 10 and 70 ms apart
    first = timeline.stamp(_frame(5000, 100.5))
    second = timeline.stamp(_frame(5040, 100.51))
    third = timeline.stamp(_frame(5080, 100.58))
    # then the output keeps the source's 40 ms steps, anchored at the first arrival
    assert first.time_base == TIME_BASE
    assert [first.pts, second.pts, third.pts] == [45000, 48600, 52200]


def test_timeline_when_frames_have_no_time_uses_capture_time() -> None:
    timeline = Timeline(start=10.0)
    frame = timeline.stamp(_frame(None, 11.25))
    assert frame.pts == 112500


def test_timeline_when_segment_restarts_stays_monotonic() -> None:
    # given a stream that reconnects and starts its clock at 0 again
    timeline = Timeline(start=0.0)
    before = _pts(timeline.stamp(_frame(90_000, 5.0)))
    timeline.new_segment()
    # when the new segment's first frame has a much smaller source time
    after = _pts(timeline.stamp(_frame(0, 6.0)))
    # then time continues from its arrival, not from the source's 0
    assert after == 6 * 90000 > before


def test_timeline_when_timestamps_collide_bumps_by_one_tick() -> None:
    timeline = Timeline(start=0.0)
    a = _pts(timeline.stamp(_frame(None, 1.0)))
    b = _pts(timeline.stamp(_frame(None, 1.0)))
    assert b == a + 1


def test_audio_pts_when_before_session_or_backwards_is_dropped() -> None:
    # given video anchoring source time 2.0 s at arrival 0.5 s after start
    timeline = Timeline(start=0.0)
    timeline.stamp(_frame(2000, 0.5))
    rate = Fraction(1, 48000)
    # then audio at source 2.1 s lands at 0.6 s; audio before the session start is dropped
    assert timeline.audio_pts(2.1, 0.5, rate) == round(0.6 * 48000)
    assert timeline.audio_pts(1.0, 0.5, rate) is None
    # and a packet that would go backwards is dropped
    assert timeline.audio_pts(2.05, 0.5, rate) is None
    assert timeline.audio_pts(None, 0.5, rate) is None

"""Meters shared by every stream: rates over a window, latency percentiles, a stream's snapshot."""

from __future__ import annotations

import pytest

from streamer.metrics import LatencyMeter, RateMeter, StreamMeters


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_meter_when_events_are_regular_reports_their_rate() -> None:
    clock = _Clock()
    meter = RateMeter(window=2.0, clock=clock)
    for i in range(31):
        meter.tick(i / 30)
    clock.now = 1.0
    assert meter.rate() == pytest.approx(30.0)
    clock.now = 10.0  # everything left the window
    assert meter.rate() == 0.0


def test_latency_meter_when_full_keeps_only_recent_samples() -> None:
    meter = LatencyMeter(keep=100)
    for value in range(1000):
        meter.add(value / 1000)
    assert meter.count == 1000
    assert len(meter.samples()) == 100
    assert meter.percentile(50) == pytest.approx(0.9495)
    assert LatencyMeter().percentile(95) is None


def test_stream_meters_when_frames_leave_count_them_and_their_latency() -> None:
    meters = StreamMeters()
    for i in range(5):
        meters.frames_in.tick(10.0 + i)
    for i in range(3):
        meters.frame_out(captured_at=10.0 + i, now=10.2 + i)
    snapshot = meters.as_dict()
    assert (snapshot["frames_in"], snapshot["frames_out"]) == (5, 3)
    assert snapshot["latency_ms"] == pytest.approx(200.0, abs=0.1)

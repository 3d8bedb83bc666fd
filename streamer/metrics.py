"""Measuring streams: event rates over a sliding window, latencies with percentiles.

Every meter is thread-safe (the inference thread, capture threads and the event loop all
record) and keeps a bounded window of samples (``deque(maxlen=...)``), so a stream that runs
for days uses the same memory as one that runs for seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LatencyMeter", "RateMeter", "StreamMeters"]


class RateMeter:
    """Events per second over the last ``window`` seconds.

    :param window: seconds of history used for the rate.
    :param clock: time source (``time.monotonic``).
    :param max_events: most event times kept.
    """

    def __init__(self, window: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 max_events: int = 4096) -> None:
        self.window = window
        self.count = 0
        self._clock = clock
        self._times: deque[float] = deque(maxlen=max_events)
        self._lock = threading.Lock()

    def tick(self, when: float | None = None) -> None:
        """Count one event (now, or at ``when``)."""
        with self._lock:
            self.count += 1
            self._times.append(self._clock() if when is None else when)

    def rate(self) -> float:
        """Events per second within the window (0 without at least two events)."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._times if now - t <= self.window]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0


class LatencyMeter:
    """Recent latencies in seconds, with percentiles.

    :param keep: how many of the most recent samples the percentiles use.
    """

    def __init__(self, keep: int = 600) -> None:
        self.count = 0
        self._samples: deque[float] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Record one latency."""
        with self._lock:
            self.count += 1
            self._samples.append(seconds)

    def samples(self) -> list[float]:
        """The samples in the window, oldest first."""
        with self._lock:
            return list(self._samples)

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0..100) of the window in seconds, or None without samples."""
        samples = self.samples()
        return float(np.percentile(samples, p)) if samples else None

    def percentile_ms(self, p: float) -> float | None:
        """:meth:`percentile` in milliseconds, rounded to 0.1 ms."""
        value = self.percentile(p)
        return None if value is None else round(value * 1000.0, 1)


@dataclass
class StreamMeters:
    """What one stylized stream measured.

    ``frames_in`` counts frames submitted; ``frames_out`` and ``latency`` count stylized frames
    as they leave the stream (capture time -> handed to the consumer).
    """

    frames_in: RateMeter = field(default_factory=RateMeter)
    frames_out: RateMeter = field(default_factory=RateMeter)
    latency: LatencyMeter = field(default_factory=LatencyMeter)

    def frame_out(self, captured_at: float, now: float | None = None) -> None:
        """Count one stylized frame leaving the stream."""
        now = time.monotonic() if now is None else now
        self.frames_out.tick(now)
        self.latency.add(now - captured_at)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly snapshot: counts, rates and median latency."""
        return {
            "frames_in": self.frames_in.count,
            "frames_out": self.frames_out.count,
            "fps_in": round(self.frames_in.rate(), 1),
            "fps_out": round(self.frames_out.rate(), 1),
            "latency_ms": self.latency.percentile_ms(50),
        }

"""Per-session measurements: frame rates over a sliding window and frame latency."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RateMeter", "SessionStats"]


class RateMeter:
    """Events per second over the last ``window`` seconds.

    :param window: length of the window in seconds.
    :param clock: time source (monotonic seconds).
    """

    def __init__(self, window: float = 2.0, clock: Any = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque(maxlen=512)
        self.count = 0

    def tick(self) -> None:
        """Record one event now."""
        self._times.append(self._clock())
        self.count += 1

    def rate(self) -> float:
        """Events per second in the window (0 with fewer than two events)."""
        now = self._clock()
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass
class SessionStats:
    """What one session measured: frames in and out, their rates, and latency.

    ``latency`` is the time from a frame's arrival at the server (decoded) to its stylized
    version being handed to the encoder.
    """

    frames_in: RateMeter = field(default_factory=RateMeter)
    frames_out: RateMeter = field(default_factory=RateMeter)
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=60))

    def record_latency(self, seconds: float) -> None:
        """Record one frame's server latency."""
        self._latencies.append(seconds)

    def latency_ms(self) -> float | None:
        """Median server latency of the last frames, in milliseconds."""
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        return round(ordered[len(ordered) // 2] * 1000.0, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly snapshot."""
        return {
            "frames_in": self.frames_in.count,
            "frames_out": self.frames_out.count,
            "fps_in": round(self.frames_in.rate(), 1),
            "fps_out": round(self.frames_out.rate(), 1),
            "latency_ms": self.latency_ms(),
        }

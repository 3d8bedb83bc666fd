"""Measuring a live session: frame rates, capture-to-output latency, and the status line.

Every meter keeps a bounded window of samples (``deque(maxlen=...)``), so a session that runs
for days uses the same memory as one that runs for seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["LatencyMeter", "LiveSnapshot", "RateMeter", "status_line"]


class RateMeter:
    """Events per second over the last ``window`` seconds (thread-safe).

    :param window: seconds of history used for the rate.
    :param clock: time source (``time.monotonic``).
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
    """Recent latencies in seconds, with percentiles (thread-safe).

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
        """The ``p``-th percentile (0..100) of the window, or None without samples."""
        samples = self.samples()
        return float(np.percentile(samples, p)) if samples else None


@dataclass
class LiveSnapshot:
    """The state of a live session at one moment (what ``--stats-json`` writes)."""

    elapsed_s: float
    state: str
    source: str
    backend: str
    style: str
    strength: float
    fps_in: float
    fps_out: float
    inference_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    frames_in: int
    frames_out: int
    dropped_capture: int  #: frames replaced in the capture slot before the pipeline took them
    dropped_engine: int  #: frames replaced in the engine's queue (or, rarely, before fan-out)
    max_pending: int  #: most frames ever queued or in inference at once
    reconnects: int
    last_error: str | None = None
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        """All frames dropped on the way (capture slot + engine queue)."""
        return self.dropped_capture + self.dropped_engine

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (rates rounded)."""
        data = asdict(self)
        data["fps_in"] = round(self.fps_in, 2)
        data["fps_out"] = round(self.fps_out, 2)
        data["dropped"] = self.dropped
        return data


def status_line(snap: LiveSnapshot) -> str:
    """One line for the terminal: rates, inference time, latency, drops, backend, style."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    parts = [
        f"in {snap.fps_in:4.1f} fps",
        f"out {snap.fps_out:4.1f} fps",
        f"infer {ms(snap.inference_ms)} ms",
        f"latency p50 {ms(snap.latency_p50_ms)} / p95 {ms(snap.latency_p95_ms)} ms",
        f"dropped {snap.dropped}",
        snap.backend,
        f"style {snap.style} @ {snap.strength:.2f}",
    ]
    if snap.state != "running":
        parts.insert(0, snap.state.upper())
    return " | ".join(parts)

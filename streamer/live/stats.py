"""A live session's numbers at one moment, and the status line that shows them.

The meters themselves live in :mod:`streamer.metrics`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LiveSnapshot", "status_line"]


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

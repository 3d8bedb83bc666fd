"""Live sessions: a camera or network stream stylized as it arrives, out to windows, streams,
virtual cameras and recordings, with the lowest latency the hardware allows.

Data path: ``sources`` -> :class:`CaptureThread` (newest frame only) -> the session's
:class:`~streamer.stream.EngineStream` (drop-oldest) -> :class:`SinkRunner` per sink (``sinks``).
"""

from .capture import Backoff, CaptureState, CaptureThread
from .clock import TIME_BASE, Timeline
from .controls import KEYS, Command, StyleControl
from .fanout import SinkRunner
from .pipeline import LiveResult, LiveSession, LiveSettings
from .stats import LiveSnapshot, status_line
from .status import StatusPrinter

__all__ = [
    "KEYS",
    "TIME_BASE",
    "Backoff",
    "CaptureState",
    "CaptureThread",
    "Command",
    "LiveResult",
    "LiveSession",
    "LiveSettings",
    "LiveSnapshot",
    "SinkRunner",
    "StatusPrinter",
    "StyleControl",
    "Timeline",
    "status_line",
]

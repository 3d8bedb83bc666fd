"""The contract of a live sink: check it early, open it on the first frame, write, close.

A live sink is driven by one thread (:class:`streamer.live.fanout.SinkRunner`), so its methods
may block; only :meth:`Sink.check` runs elsewhere (on the event loop, before anything starts).
"""

from __future__ import annotations

import abc

import cv2
import numpy as np

from ..frames import Frame
from ..sources.base import AudioPacket, SourceInfo

__all__ = ["Sink", "SinkClosed", "fit", "fit_even"]


class SinkClosed(Exception):  # noqa: N818 - a request, not an error
    """Raised by a sink whose user closed it (the preview window): the session stops cleanly."""


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` resized to ``width`` x ``height`` if it differs (a source that reconnected with
    another resolution, into a sink whose size is fixed)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def fit_even(width: int, height: int) -> tuple[int, int]:
    """The largest even size within ``width`` x ``height`` (4:2:0 video needs even sizes)."""
    return max(2, width - width % 2), max(2, height - height % 2)


class Sink(abc.ABC):
    """Where stylized frames go: a window, a stream, a virtual camera, a file.

    :attr:`reconnectable` sinks (network streams) are reopened with backoff after a
    :class:`~streamer.errors.SinkError`; for the others the error ends the session.
    """

    name: str = "sink"  #: short name for messages and stats (credentials redacted)
    reconnectable: bool = False
    accepts_audio: bool = False

    def check(self) -> None:  # noqa: B027 - optional hook
        """Fail early (before the engine starts) with a clear :class:`~streamer.errors.SinkError`
        or :class:`~streamer.errors.ConfigError` if this sink cannot work here."""

    @abc.abstractmethod
    def open(self, frame: Frame, source: SourceInfo) -> None:
        """Open the output for frames like ``frame`` (its size is the output's size)."""

    @abc.abstractmethod
    def write(self, frame: Frame) -> None:
        """Output one stylized frame (``pts`` on the session clock, ``TIME_BASE`` units)."""

    def write_audio(self, packet: AudioPacket) -> None:  # noqa: B027 - optional hook
        """Pass one source audio packet through (sinks with :attr:`accepts_audio`)."""

    def idle(self) -> None:  # noqa: B027 - optional hook
        """Called about every 50 ms while no frame arrives (keeps a window responsive)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the output (a recording is finalized here). Idempotent."""

"""The unit of data that travels from a source through the engine to a sink."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = ["Frame"]


@dataclass(slots=True)
class Frame:
    """One video frame and the timing that travels with it.

    :param image: ``H x W x 3`` uint8 RGB pixels.
    :param pts: presentation timestamp in ``time_base`` units (``None`` if the source has none).
    :param time_base: unit of ``pts`` in seconds.
    :param seq: running number assigned by the source (0, 1, 2, ...).
    :param captured_at: :func:`time.monotonic` when the source produced the frame; used to
        measure capture-to-output latency.
    """

    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    seq: int = 0
    captured_at: float = field(default_factory=time.monotonic)

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.image.shape[1])

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, if known."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    def with_image(self, image: np.ndarray) -> Frame:
        """Return a copy carrying ``image`` and this frame's timing."""
        return dataclasses.replace(self, image=image)

"""Counting frames done across the cluster (a tiny Ray actor the workers report to)."""

from __future__ import annotations

__all__ = ["FrameCounter"]


class FrameCounter:
    """Frames done per chunk; a chunk retried after a worker died restarts from 0 without
    counting twice (the highest report of each chunk counts)."""

    def __init__(self) -> None:
        self._done: dict[str, int] = {}

    def report(self, key: str, frames: int) -> None:
        """Chunk ``key`` has ``frames`` frames done."""
        if frames > self._done.get(key, 0):
            self._done[key] = frames

    def total(self) -> int:
        """Frames done over every chunk."""
        return sum(self._done.values())

"""Counting frames done across the cluster (a tiny Ray actor the workers report to)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ChunkKey", "FrameCounter"]


class ChunkKey(NamedTuple):
    """Which run of which chunk a progress report is about."""

    file: int  #: the file's number in the job
    attempt: int  #: 0; 1 when the file was resent whole after a chunk's decoding error
    chunk: int  #: the chunk's index in that attempt

    def __str__(self) -> str:
        return f"{self.file}.{self.attempt}.{self.chunk}"


class FrameCounter:
    """Frames done, each frame counted once however often it was converted.

    A chunk rerun by Ray after its worker died restarts from 0 under the same key: the highest
    report of a chunk counts. A file resent whole is a new attempt at the same frames: a file
    counts as far as its furthest attempt got.
    """

    def __init__(self) -> None:
        self._done: dict[ChunkKey, int] = {}

    def report(self, key: ChunkKey, frames: int) -> None:
        """Chunk ``key`` has ``frames`` frames done."""
        key = ChunkKey(*key)  # Ray may hand a NamedTuple over as a plain tuple
        if frames > self._done.get(key, 0):
            self._done[key] = frames

    def total(self) -> int:
        """Frames done over every file."""
        attempts: dict[tuple[int, int], int] = {}
        for key, frames in self._done.items():
            attempts[key.file, key.attempt] = attempts.get((key.file, key.attempt), 0) + frames
        files: dict[int, int] = {}
        for (file, _), frames in attempts.items():
            files[file] = max(files.get(file, 0), frames)
        return sum(files.values())

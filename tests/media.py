"""Test media generated on the fly with PyAV (nothing is committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.sources.synthetic import write_clip

__all__ = ["make_clip", "pattern_frame"]


def pattern_frame(index: int, height: int, width: int) -> np.ndarray:
    """A moving colour pattern (RGB uint8) that codecs compress well and that differs per frame."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1) + index * 7) % 256
    g = (y * 255 // max(height - 1, 1) + index * 3) % 256
    b = ((x + y + index * 11) // 4) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def make_clip(path: Path, frames: int = 10, width: int = 160, height: int = 120, fps: int = 10,
              codec: str = "libx264", pix_fmt: str = "yuv420p", audio: str | None = "aac",
              audio_rate: int = 16000, keyframe_every: int | None = None) -> Path:
    """A small clip of :func:`pattern_frame` images, optionally with a tone and a keyframe every
    ``keyframe_every`` frames."""
    options = {"g": str(keyframe_every), "keyint_min": str(keyframe_every)} if keyframe_every else None
    return write_clip(path, frames, width, height, fps, codec, pix_fmt, audio, audio_rate, make_frame=pattern_frame,
                      video_options=options)


def leftovers(folder: Path) -> list[str]:
    """Partial outputs left behind anywhere under ``folder`` (there must be none)."""
    return [p.name for p in folder.rglob("*") if ".partial-" in p.name]

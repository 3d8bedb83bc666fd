"""Test media generated on the fly with PyAV (nothing is committed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["make_clip", "pattern_frame"]


def pattern_frame(index: int, height: int, width: int) -> np.ndarray:
    """A moving colour pattern (RGB uint8) that codecs compress well and that differs per frame."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1) + index * 7) % 256
    g = (y * 255 // max(height - 1, 1) + index * 3) % 256
    b = ((x + y + index * 11) // 4) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def make_clip(
    path: Path,
    frames: int = 10,
    width: int = 160,
    height: int = 120,
    fps: int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: str | None = "aac",
    audio_rate: int = 16000,
) -> Path:
    """Write a small clip: a moving pattern, optionally with a sine-tone audio track."""
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = Fraction(1, fps)
        sound = None
        if audio:
            sound = container.add_stream(audio, rate=audio_rate)
            sound.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, height, width), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            samples_per_frame = 1024
            total = int(audio_rate * frames / fps)
            t = np.arange(total) / audio_rate
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, total, samples_per_frame):
                chunk = tone[start : start + samples_per_frame]
                aframe = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                aframe.sample_rate = audio_rate
                aframe.pts = start
                aframe.time_base = Fraction(1, audio_rate)
                container.mux(sound.encode(aframe))
            container.mux(sound.encode(None))
    return path

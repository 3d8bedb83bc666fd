"""Synthetic media: a drawn scene and clip writer for demos, benchmarks and tests (no files shipped)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.audio.stream import AudioStream

from ..media_streams import add_audio_stream, add_video_stream

__all__ = ["scene_frame", "write_clip"]

FrameMaker = Callable[[int, int, int], np.ndarray]


def scene_frame(index: int, height: int = 480, width: int = 640) -> np.ndarray:
    """Frame ``index`` of a simple animated scene (RGB uint8): sky, sun, and a house moving right."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = np.array([90, 150, 230], np.float32) * (1 - y) + np.array([60, 140, 60], np.float32) * y
    image = np.ascontiguousarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8))
    s = min(height / 480, width / 640)
    cv2.circle(image, (int(width * 0.81), int(90 * s)), int(50 * s), (255, 220, 80), -1)
    x = int(40 * s) + (index * max(1, int(4 * s))) % max(1, width - int(200 * s))
    top, bottom, roof = int(260 * s), int(380 * s), int(200 * s)
    cv2.rectangle(image, (x, top), (x + int(140 * s), bottom), (200, 80, 60), -1)
    roof_points = np.array([[x - int(10 * s), top], [x + int(70 * s), roof], [x + int(150 * s), top]])
    cv2.fillPoly(image, [roof_points], (120, 60, 40))
    cv2.rectangle(image, (x + int(55 * s), int(320 * s)), (x + int(85 * s), bottom), (70, 40, 30), -1)
    return image


def write_clip(
    path: str | Path,
    frames: int = 100,
    width: int = 640,
    height: int = 480,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: str | None = "aac",
    audio_rate: int = 44100,
    make_frame: FrameMaker = scene_frame,
    video_options: dict[str, str] | None = None,
) -> Path:
    """Write a clip of ``make_frame(i, height, width)`` images, with a 330 Hz tone if ``audio``.

    ``video_options`` go to the encoder (e.g. ``{"g": "10"}``: a keyframe every 10 frames).
    """
    path = Path(path)
    with av.open(str(path), "w") as container:
        video = add_video_stream(container, codec, fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = Fraction(1, fps)
        if video_options:
            video.options = dict(video_options)
        sound: AudioStream | None = None
        if audio:  # every stream must exist before the first packet is written
            sound = add_audio_stream(container, audio, audio_rate)
            sound.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(make_frame(i, height, width), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            t = np.arange(int(audio_rate * frames / fps)) / audio_rate
            tone = (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = audio_rate, start, Fraction(1, audio_rate)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path

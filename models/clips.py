"""The shared video clips: frames at a processing size, and writing a small H.264 clip."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np

from models.imaging import resize, to_float
from models.paths import require_shared
from streamer.config import ProcessingSize

CLIPS = ("cockatoo.mp4", "test.webm", "realshort.mp4")
MULTIPLE = 8


def clip_path(name: str) -> Path:
    """A clip of the shared data (``media/video``)."""
    return require_shared(f"media/video/{name}")


def segment_starts(frames: int, segments: int, length: int) -> list[int]:
    """First indices of ``segments`` runs of ``length`` consecutive frames spread evenly over a
    clip of ``frames`` frames (fewer runs when the clip is short)."""
    if frames < length:
        raise ValueError(f"clip has {frames} frames, fewer than one segment of {length}")
    count = min(segments, frames // length)
    last = frames - length
    return sorted({round(i * last / max(count - 1, 1)) for i in range(count)})


def frame_count(path: Path) -> int:
    """Number of video frames (decoded: some containers do not store it)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def read_frames(path: Path, indices: Iterable[int], short_side: int) -> dict[int, np.ndarray]:
    """The frames at ``indices`` (decode order), float RGB at the engine's processing size for
    ``short_side`` (sides rounded to multiples of 8)."""
    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                rgb = frame.to_ndarray(format="rgb24")
                height, width = ProcessingSize(short_side).shape_for(rgb.shape[0], rgb.shape[1], MULTIPLE)
                frames[index] = to_float(resize(rgb, height, width))
            if len(frames) == len(wanted):
                break
    missing = wanted - set(frames)
    if missing:
        raise ValueError(f"{path.name}: frames {sorted(missing)[:3]}... not in the clip")
    return frames


def read_segments(path: Path, short_side: int, segments: int, length: int) -> list[list[np.ndarray]]:
    """``segments`` runs of ``length`` consecutive frames, spread evenly over the clip."""
    starts = segment_starts(frame_count(path), segments, length)
    frames = read_frames(path, (s + i for s in starts for i in range(length)), short_side)
    return [[frames[s + i] for i in range(length)] for s in starts]


def frame_rate(path: Path) -> float:
    """The clip's average frame rate."""
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        return float(rate) if rate else 25.0


def write_h264(path: Path, frames: Sequence[np.ndarray], fps: float, bit_rate: int) -> None:
    """Write uint8 RGB frames (all of one even size) as an H.264 mp4 (yuv420p, ``faststart``);
    the file appears only when complete."""
    if not frames:
        raise ValueError("no frames to write")
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even sizes, got {width}x{height}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=round(fps))
            stream.height, stream.width = height, width
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = bit_rate
            stream.options = {"preset": "slow", "profile": "high"}
            for rgb in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)

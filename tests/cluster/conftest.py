"""Fixtures for the cluster tests: media read back, one Ray per module (the style comes from tests/conftest.py)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from streamer.cli import main

from ..media import pattern_frame
from .processes import descendants, listening_addresses, not_loopback

# read by Ray once, when it is first imported (by a test or by streamer): a local instance then
# takes 127.0.0.1 as its node address and its servers listen on loopback only
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


@dataclass
class Decoded:
    """A video file read back: what the cluster path must keep equal to a single-process convert."""

    pts: list[int]
    images: list[np.ndarray]
    time_base: Fraction
    duration: int | None  #: container duration (microseconds)
    video_duration: int | None  #: video stream duration (time_base units)
    others: list[tuple[int, int | None, bytes]]  #: audio/subtitle packets: stream, pts, bytes
    keyframes: list[int]  #: pts of the video keyframes
    rotation: int  #: display rotation (degrees) of the frames

    def same_as(self, other: Decoded) -> bool:
        return (self.pts == other.pts and self.time_base == other.time_base and self.duration == other.duration
                and self.rotation == other.rotation
                and self.video_duration == other.video_duration and self.others == other.others
                and len(self.images) == len(other.images)
                and all(np.array_equal(a, b) for a, b in zip(self.images, other.images, strict=True)))


def decoded(path: Path) -> Decoded:
    """Every frame, timestamp and pass-through packet of ``path``."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames, rotations = [], set()
        for frame in container.decode(video):
            frames.append((frame.pts, frame.to_ndarray(format="rgb24")))
            rotations.add(frame.rotation)
        info = (video.time_base, container.duration, video.duration)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        others, keyframes = [], []
        for packet in container.demux():
            if packet.stream is video:
                if packet.is_keyframe and packet.size:
                    keyframes.append(packet.pts)
            elif packet.size:
                others.append((packet.stream.index, packet.pts, bytes(packet)))
    assert len(rotations) <= 1, f"{path.name}: frames with rotations {rotations}"
    return Decoded([p for p, _ in frames], [i for _, i in frames], *info, others, sorted(keyframes),
                   rotations.pop() if rotations else 0)


def write_clip(path: Path, pts: list[int], fps: int, options: dict[str, str], rotation: int = 0,
               subtitles: int = 0) -> Path:
    """A clip with the frame times ``pts`` (in 1/``fps`` units) and encoder ``options``, no audio;
    optionally a display rotation and a SubRip track with ``subtitles`` lines spread over it."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.codec_context.time_base = Fraction(1, fps)
        v.options = options
        if rotation:
            v.set_display_rotation(rotation)
        text = c.add_mux_stream("subrip") if subtitles else None
        every = -(-len(pts) // max(subtitles, 1))
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, 120, 160), format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, fps)
            c.mux(v.encode(frame))
            if text is not None and i % every == 0:
                line = av.Packet(f"line {i}".encode())
                line.stream, line.time_base = text, Fraction(1, fps)
                line.pts = line.dts = p
                line.duration = 3
                c.mux(line)
        c.mux(v.encode(None))
    return path


def open_gop_clip(path: Path) -> Path:
    """A 6 s clip of open GOPs (x264's ``open-gop``): its second keyframe, at 1 s, is an I-frame
    with a recovery point and no leading pictures, where it is cut."""
    return write_clip(path, list(range(60)), 10,
                      {"g": "10", "keyint_min": "10", "sc_threshold": "0", "x264-params": "open-gop=1:bframes=3"})


def convert(*args: str | Path) -> int:
    """``streamer convert`` in this process, lossless (CRF 0) so decoded frames compare exactly."""
    return main(["convert", "--no-progress", "--size", "96", "--crf", "0", *map(str, args)])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[dict[str, Any]]:
    """One local Ray instance (2 CPUs, loopback only, no dashboard, no usage stats) per module."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'streamer-nst[ray]')")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():
        ray.shutdown()
    context = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                       logging_level=logging.ERROR)
    try:
        # nothing of it may be reached from, or talk to, anything but this machine's loopback
        listening = listening_addresses(descendants(os.getpid()))
        assert listening and not not_loopback(listening), f"Ray listens on {sorted(listening)}"
        assert context.address_info["address"].startswith("127.0.0.1:"), context.address_info
        yield dict(context.address_info)
    finally:
        ray.shutdown()

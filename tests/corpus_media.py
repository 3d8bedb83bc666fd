"""Odd and damaged media for the conversion corpus, written with PyAV into temporary folders.

Nothing here is committed media: every file is generated at test time from a :class:`Clip`
description. The writer sets timestamps and durations itself, packet by packet, so the files
say exactly what the corpus expects (no B-frames where a format stores durations per packet,
so decode order is display order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .media import pattern_frame

__all__ = ["Clip", "corrupt_keyframe", "corrupt_middle", "cut_in_half", "upright_picture", "write"]


def upright_picture(index: int, height: int, width: int) -> np.ndarray:
    """A picture whose orientation shows: bright top-left quarter, dark bottom, a gradient across."""
    image = pattern_frame(index, height, width) // 3
    image[: height // 2, : width // 2] = 235
    image[height * 3 // 4:, :] = 15
    return image


@dataclass
class Clip:
    """What to write.

    :param frames: number of video frames (ignored when ``pts`` is given).
    :param pts: explicit frame timestamps in ``1/fps`` units (variable frame rate).
    :param last_duration: duration of the last frame in ``1/fps`` units.
    :param rotation: display rotation (counter-clockwise degrees, PyAV's convention); the coded
        frames are the displayed picture turned the other way, so players show ``picture``.
    :param hflip: the display matrix also mirrors (the coded frames are mirrored back).
    :param audio: audio codec, or None.
    :param audio_seconds: audio length (default: the video's).
    :param second_video: size of a second, independent video stream (W, H), or None.
    :param cover: add a cover picture (MP4 attached picture).
    :param bframes: let the encoder use B-frames (x264's default) instead of none.
    :param options: container options (e.g. ``{"movflags": "faststart"}``).
    """

    frames: int = 10
    width: int = 96
    height: int = 64
    fps: int = 10
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    pts: list[int] | None = None
    last_duration: int = 1
    rotation: int = 0
    hflip: bool = False
    audio: str | None = "aac"
    audio_rate: int = 16000
    audio_seconds: float | None = None
    second_video: tuple[int, int] | None = None
    cover: bool = False
    bframes: bool = False
    options: dict[str, str] = field(default_factory=dict)
    picture: Callable[[int, int, int], np.ndarray] = upright_picture

    @property
    def timestamps(self) -> list[int]:
        """Frame timestamps in ``1/fps`` units."""
        return list(self.pts) if self.pts is not None else list(range(self.frames))

    @property
    def end(self) -> float:
        """Where the video ends, in seconds."""
        return (self.timestamps[-1] + self.last_duration) / self.fps

    def displayed(self, index: int) -> np.ndarray:
        """Frame ``index`` as a player shows it (``width`` x ``height``)."""
        return self.picture(index, self.height, self.width)

    def coded(self, index: int) -> np.ndarray:
        """Frame ``index`` as stored: the displayed picture turned back by the display matrix."""
        image = self.displayed(index)
        if self.hflip:
            image = image[:, ::-1]
        # the display turns the coded frame counter-clockwise by `rotation`: store it turned clockwise
        return np.ascontiguousarray(np.rot90(image, k=-(self.rotation // 90) % 4))


def _video_stream(container: Any, clip: Clip, width: int, height: int) -> Any:
    stream = container.add_stream(clip.codec, rate=clip.fps)
    stream.width, stream.height, stream.pix_fmt = width, height, clip.pix_fmt
    stream.codec_context.time_base = Fraction(1, clip.fps)
    if clip.codec == "libx264" and not clip.bframes:
        stream.codec_context.max_b_frames = 0
    return stream


def write(path: Path, clip: Clip) -> Path:
    """Write ``clip`` to ``path`` (the extension picks the container)."""
    times = clip.timestamps
    durations = {p: (times[i + 1] - p if i + 1 < len(times) else clip.last_duration) for i, p in enumerate(times)}
    coded_h, coded_w = clip.coded(0).shape[:2]
    with av.open(str(path), "w", options=clip.options) as container:
        video = _video_stream(container, clip, coded_w, coded_h)
        if clip.rotation or clip.hflip:
            video.set_display_rotation(clip.rotation, hflip=clip.hflip)
        second = _video_stream(container, clip, *clip.second_video) if clip.second_video else None
        sound = None
        if clip.audio:
            sound = container.add_stream(clip.audio, rate=clip.audio_rate)
            sound.layout = "mono"
        cover_packets: list[av.Packet] = []
        if clip.cover:
            cover = container.add_stream("mjpeg")
            cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
            art = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
            cover_packets = cover.encode(art.reformat(format="yuvj420p")) + cover.encode(None)

        def mux_video(stream: Any, packets: list[av.Packet]) -> None:
            for packet in packets:
                if packet.pts is not None and stream is video:
                    packet.duration = durations.get(packet.pts, 1)
                container.mux(packet)

        for i, p in enumerate(times):
            frame = av.VideoFrame.from_ndarray(clip.coded(i), format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, clip.fps)
            mux_video(video, video.encode(frame))
            if second is not None:
                other = av.VideoFrame.from_ndarray(pattern_frame(i, clip.second_video[1], clip.second_video[0]),
                                                   format="rgb24")
                other.pts, other.time_base = p, Fraction(1, clip.fps)
                mux_video(second, second.encode(other))
            if i == 0:
                for packet in cover_packets:
                    packet.pts = packet.dts = 0
                    container.mux(packet)
        mux_video(video, video.encode(None))
        if second is not None:
            mux_video(second, second.encode(None))
        if sound is not None:
            seconds = clip.audio_seconds if clip.audio_seconds is not None else clip.end
            t = np.arange(int(clip.audio_rate * seconds)) / clip.audio_rate
            tone = (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
            step = 1024
            for start in range(0, len(tone), step):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + step], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = clip.audio_rate, start, Fraction(1, clip.audio_rate)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def cut_in_half(path: Path, out: Path) -> Path:
    """The first half of ``path``'s bytes (a download that stopped)."""
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def corrupt_middle(path: Path, out: Path, every: int = 1500, span: int = 48) -> Path:
    """``path`` with ``span`` random bytes overwritten every ``every`` bytes in its middle third."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for offset in range(len(data) // 3, 2 * len(data) // 3, every):
        data[offset:offset + span] = rng.integers(0, 256, span, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def corrupt_keyframe(path: Path, out: Path, which: int) -> Path:
    """``path`` with bytes in the middle of its ``which``-th video keyframe flipped: the decoder
    conceals the damage (the frame is still shown) and reports errors."""
    with av.open(str(path)) as container:
        keyframes = [(p.pos, p.size) for p in container.demux(video=0) if p.size and p.is_keyframe]
    position, size = keyframes[which]
    data = bytearray(path.read_bytes())
    for offset in range(position + size // 3, position + size // 3 + 24):
        data[offset] ^= 0x5A
    out.write_bytes(bytes(data))
    return out

"""Choosing a video encoder: ``--codec auto`` tries the hardware H.264/HEVC encoders.

FFmpeg builds list hardware encoders (NVENC, Quick Sync, VAAPI, VideoToolbox, AMF) whether or
not the machine has the hardware and drivers, so a name in the list proves nothing. Each
candidate is opened and made to encode a few frames (a *trial encode*); the first that
produces packets is used, else ``libx264``, with the reasons the candidates failed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext

from ..errors import media_library_errors
from ..ffmpeg_log import ffmpeg_messages

__all__ = ["HARDWARE_ENCODERS", "EncoderChoice", "auto_video_encoder", "trial_encode"]

logger = logging.getLogger(__name__)

#: candidates in order of preference: H.264 first (plays everywhere), then HEVC
HARDWARE_ENCODERS = (
    "h264_nvenc", "h264_qsv", "h264_vaapi", "h264_videotoolbox", "h264_amf",
    "hevc_nvenc", "hevc_qsv", "hevc_vaapi", "hevc_videotoolbox", "hevc_amf",
)
SOFTWARE_FALLBACK = "libx264"
_FAMILIES = {"nvenc": "NVENC", "qsv": "Quick Sync", "vaapi": "VAAPI", "videotoolbox": "VideoToolbox", "amf": "AMF"}

#: trial frame size: a common video size, so size limits of the encoder show up
_TRIAL_SIZE = (1280, 720)


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder ``auto`` picked and why."""

    codec: str
    hardware: bool
    reason: str  #: one line for the user

    def describe(self) -> str:
        """E.g. ``"video encoder h264_nvenc: hardware, passed a trial encode"``."""
        return f"video encoder {self.codec}: {self.reason}"


def trial_encode(codec: str, width: int = _TRIAL_SIZE[0], height: int = _TRIAL_SIZE[1],
                 frames: int = 3) -> str | None:
    """Encode ``frames`` gray frames with ``codec``; None if it produced packets, else why not."""
    try:
        spec = av.codec.Codec(codec, "w")
    except media_library_errors():
        return "not in this FFmpeg build"
    formats = [f.name for f in (spec.video_formats or [])]
    pix_fmt = next((f for f in ("yuv420p", "nv12") if f in formats), formats[0] if formats else "yuv420p")
    with ffmpeg_messages(codec) as log:
        try:
            context = av.codec.CodecContext.create(codec, "w")
            if not isinstance(context, VideoCodecContext):
                return "not a video encoder"
            context.width, context.height, context.pix_fmt = width, height, pix_fmt
            context.time_base, context.framerate = Fraction(1, 30), Fraction(30)
            gray = av.VideoFrame.from_ndarray(np.full((height, width, 3), 128, np.uint8), format="rgb24")
            packets = 0
            for i in range(frames):
                frame = gray.reformat(format=pix_fmt)
                frame.pts = i
                packets += len(context.encode(frame))
            packets += len(context.encode(None))
        except media_library_errors() as exc:  # a driver that cannot start: FFmpeg error or OSError
            messages = [message for _, message in log.take()]
            # FFmpeg's first message says why (e.g. "Cannot load libcuda.so.1"); PyAV's only how
            return messages[0] if messages else (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
    return None if packets else "produced no packets"


@functools.cache
def auto_video_encoder() -> EncoderChoice:
    """The first hardware encoder that passes a trial encode, else libx264 with the reasons.

    Cached for the process: the trials take a few milliseconds each (no hardware) to about
    a second (a GPU waking up).
    """
    reasons: dict[str, str] = {}  # family -> why its first encoder failed
    for codec in HARDWARE_ENCODERS:
        family = _FAMILIES[codec.split("_", 1)[1]]
        why = trial_encode(codec) if codec in av.codecs_available else "not in this FFmpeg build"
        if why is None:
            logger.debug("--codec auto: %s passed a trial encode", codec)
            return EncoderChoice(codec, True, "hardware, passed a trial encode")
        logger.debug("--codec auto: %s failed its trial encode: %s", codec, why)
        reasons.setdefault(family, why)
    by_reason: dict[str, list[str]] = {}
    for family, why in reasons.items():
        by_reason.setdefault(why, []).append(family)
    detail = "; ".join(f"{', '.join(families)}: {why}" for why, families in by_reason.items())
    return EncoderChoice(SOFTWARE_FALLBACK, False, f"no hardware encoder works here ({detail})")

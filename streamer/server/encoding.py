"""Encoding a stylized stream once for all its viewers (VP8 or H.264), as aiortc sends it.

aiortc encodes separately for every peer a track is sent to. A room of four, where everyone
watches everyone else, would encode each stylized picture three times; WHEP viewers one more
time each. :class:`SharedEncoder` encodes each picture once per codec in use and every viewer's
sender only packetizes the result (aiortc sends pre-encoded :class:`av.Packet` objects as they
are). The cost: viewers share one bitrate and one keyframe schedule. A keyframe is made every
:data:`KEYFRAME_SECONDS` of stream time and whenever a viewer asks for one (a new viewer, or one
whose queue overflowed); a viewer's picture-loss reports are not seen (aiortc handles them only
for frames it encodes itself), so after a lost packet its picture can stall until the next
keyframe, at most :data:`KEYFRAME_SECONDS` later.

.. code-block:: python

    encoder = SharedEncoder("VP8")
    encoded = encoder.encode(frame.image, pts)   # on a worker thread: it blocks for milliseconds
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from aiortc.mediastreams import VIDEO_TIME_BASE

from ..errors import ConfigError
from ..pixels import video_from_rgb

__all__ = ["KEYFRAME_SECONDS", "VIDEO_CODECS", "EncodedFrame", "SharedEncoder", "codec_of_mime"]

#: the video codecs a stream can be sent in (what aiortc and browsers have in common)
VIDEO_CODECS = ("VP8", "H264")
#: a keyframe at least this often (stream time), so a viewer that lost a packet recovers
KEYFRAME_SECONDS = 2.0
#: bits per pixel per frame at 30 fps: 640x480 gets about 1.4 Mbit/s
BITS_PER_PIXEL = 0.15
MIN_BITRATE, MAX_BITRATE = 300_000, 6_000_000


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded picture, shared by every viewer of a stream.

    :param data: the codec's bitstream for the picture (H.264: Annex B with start codes).
    :param pts: presentation time on the 90 kHz RTP clock.
    :param keyframe: a viewer can start decoding here.
    """

    data: bytes
    pts: int
    keyframe: bool


def codec_of_mime(mime: str) -> str | None:
    """``"VP8"`` or ``"H264"`` for an RTP mime type such as ``video/VP8``; None for others."""
    name = mime.split("/")[-1].upper()
    return name if name in VIDEO_CODECS else None


def _bitrate(width: int, height: int) -> int:
    return int(min(MAX_BITRATE, max(MIN_BITRATE, width * height * 30 * BITS_PER_PIXEL)))


class SharedEncoder:
    """Encodes a stream's pictures in one codec; :meth:`encode` blocks (call it on a thread).

    :param codec: ``"VP8"`` or ``"H264"`` (constrained baseline, packetization mode 1: what
        every WebRTC receiver decodes).
    """

    def __init__(self, codec: str) -> None:
        if codec not in VIDEO_CODECS:
            raise ConfigError(f"cannot encode {codec!r}: use one of {', '.join(VIDEO_CODECS)}")
        self.codec = codec
        self.frames = 0
        self.keyframes = 0
        self._context: av.VideoCodecContext | None = None
        self._size = (0, 0)
        self._last_key_pts: int | None = None
        self._keyframe_wanted = threading.Event()

    def request_keyframe(self) -> None:
        """Make the next picture a keyframe (thread-safe)."""
        self._keyframe_wanted.set()

    def encode(self, image: np.ndarray, pts: int) -> EncodedFrame | None:
        """Encode one RGB picture shown at ``pts`` (90 kHz); None if the codec held it back."""
        height, width = image.shape[0] - image.shape[0] % 2, image.shape[1] - image.shape[1] % 2
        video = video_from_rgb(np.ascontiguousarray(image[:height, :width]))
        if video.format.name != "yuv420p":
            video = video.reformat(format="yuv420p")
        context = self._context_for(width, height)
        interval = KEYFRAME_SECONDS * VIDEO_TIME_BASE.denominator
        if self._keyframe_wanted.is_set() or self._last_key_pts is None or pts - self._last_key_pts >= interval:
            self._keyframe_wanted.clear()
            video.pict_type = av.video.frame.PictureType.I
        video.pts = pts
        video.time_base = VIDEO_TIME_BASE
        packets = context.encode(video)
        data = b"".join(bytes(p) for p in packets)
        if not data:
            return None
        keyframe = any(p.is_keyframe for p in packets)
        if keyframe:
            self._last_key_pts = pts
            self.keyframes += 1
        self.frames += 1
        return EncodedFrame(data, pts, keyframe)

    def _context_for(self, width: int, height: int) -> av.VideoCodecContext:
        if self._context is not None and self._size == (width, height):
            return self._context
        bitrate = _bitrate(width, height)
        if self.codec == "VP8":
            context = av.CodecContext.create("libvpx", "w")
            context.options = {  # aiortc's real-time settings at a fixed bitrate, fastest speed, no denoiser:
                # 35 % less CPU than aiortc's (measured at 640x480), one encoding serves every viewer
                "deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0", "static-thresh": "1",
                "undershoot-pct": "100", "overshoot-pct": "15", "partitions": "0",
                "bufsize": str(bitrate), "minrate": str(bitrate), "maxrate": str(bitrate),
            }
            context.qmin, context.qmax = 2, 56
        else:
            context = av.CodecContext.create("libx264", "w")
            context.options = {
                "preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "forced-idr": "1",
                "maxrate": str(bitrate), "bufsize": str(bitrate // 2), "crf": "23",
            }
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.bit_rate = bitrate
        context.time_base = VIDEO_TIME_BASE
        context.framerate = Fraction(30, 1)  # rate control's frame budget; frames come when they come
        context.gop_size = 10_000  # keyframes are chosen here
        context.thread_count = 1 if width * height <= 640 * 480 else 2
        self._context, self._size = context, (width, height)
        self._last_key_pts = None
        return context

    def close(self) -> None:
        """Release the codec (idempotent; the next :meth:`encode` opens a new one)."""
        self._context = None
        self._size = (0, 0)

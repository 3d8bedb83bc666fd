"""Publishing stylized frames to an RTSP server (H.264, low-latency x264), through PyAV.

The server must accept publishers (RTSP ``ANNOUNCE``/``RECORD``), as MediaMTX and
gst-rtsp-server's record mode do. A lost connection is reported as a
:class:`~streamer.errors.SinkError`; the session reopens the stream with backoff.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import av

from ..errors import ConfigError
from ..sources.base import redact
from ..sources.stream import RTSP_TRANSPORTS
from .publish import H264Publisher

__all__ = ["RtspSink", "is_rtsp_url"]


def is_rtsp_url(url: str) -> bool:
    """True for ``rtsp://`` and ``rtsps://`` URLs."""
    return urlsplit(url).scheme.lower() in ("rtsp", "rtsps")


class RtspSink(H264Publisher):
    """Encodes frames with libx264 (``ultrafast``, ``zerolatency``) and publishes them.

    :param url: ``rtsp://host:port/path`` of the server's publish mount.
    :param transport: ``"tcp"`` (default) or ``"udp"``.
    :param crf: x264 quality (lower is better).
    :param keyframe_seconds: a keyframe at least this often, so new viewers start quickly.
    :param timeout: seconds to wait for the server on connect and on each write.
    """

    protocol = "rtsp"

    def __init__(self, url: str, *, transport: str = "tcp", crf: int = 23,
                 keyframe_seconds: float = 1.0, timeout: float = 5.0) -> None:
        if not is_rtsp_url(url):
            raise ConfigError(f"not an rtsp:// URL: {redact(url)}")
        if transport not in RTSP_TRANSPORTS:
            raise ConfigError(f"RTSP transport must be one of {', '.join(RTSP_TRANSPORTS)}, not {transport!r}")
        super().__init__(url, crf=crf, keyframe_seconds=keyframe_seconds, timeout=timeout)
        self.transport = transport

    def connect(self) -> av.container.OutputContainer:
        return av.open(self.url, "w", format="rtsp", options={"rtsp_transport": self.transport},
                       timeout=(self.timeout, self.timeout))

"""Publishing stylized frames to an RTSP server (H.264, low-latency x264), through PyAV.

The server must accept publishers (RTSP ``ANNOUNCE``/``RECORD``), as MediaMTX and
gst-rtsp-server's record mode do. A lost connection is reported as a
:class:`~streamer.errors.SinkError`; the session reopens the stream with backoff.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from urllib.parse import urlsplit

import av

from ..errors import ConfigError, SinkError, media_errors, media_errors_ignored, media_library_errors
from ..frames import Frame
from ..pixels import video_from_rgb
from ..sources.base import SourceInfo, error_detail, redact
from ..sources.stream import RTSP_TRANSPORTS
from .base import Sink, fit, fit_even

__all__ = ["RtspSink", "is_rtsp_url"]

logger = logging.getLogger(__name__)

_DEFAULT_TIME_BASE = Fraction(1, 90000)


def is_rtsp_url(url: str) -> bool:
    """True for ``rtsp://`` and ``rtsps://`` URLs."""
    return urlsplit(url).scheme.lower() in ("rtsp", "rtsps")


class RtspSink(Sink):
    """Encodes frames with libx264 (``ultrafast``, ``zerolatency``) and publishes them.

    :param url: ``rtsp://host:port/path`` of the server's publish mount.
    :param transport: ``"tcp"`` (default) or ``"udp"``.
    :param crf: x264 quality (lower is better).
    :param keyframe_seconds: a keyframe at least this often, so new viewers start quickly.
    :param timeout: seconds to wait for the server on connect and on each write.
    """

    reconnectable = True

    def __init__(self, url: str, *, transport: str = "tcp", crf: int = 23,
                 keyframe_seconds: float = 1.0, timeout: float = 5.0) -> None:
        if not is_rtsp_url(url):
            raise ConfigError(f"not an rtsp:// URL: {redact(url)}")
        if transport not in RTSP_TRANSPORTS:
            raise ConfigError(f"RTSP transport must be one of {', '.join(RTSP_TRANSPORTS)}, not {transport!r}")
        self.url = url
        self.name = f"rtsp {redact(url)}"
        self.transport = transport
        self.crf = crf
        self.keyframe_seconds = keyframe_seconds
        self.timeout = timeout
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size = (0, 0)
        self._first_pts: int | None = None
        self._time_base = _DEFAULT_TIME_BASE

    def open(self, frame: Frame, source: SourceInfo) -> None:
        width, height = fit_even(frame.width, frame.height)
        fps = source.fps or 30.0
        try:
            self._container = av.open(self.url, "w", format="rtsp",
                                      options={"rtsp_transport": self.transport},
                                      timeout=(self.timeout, self.timeout))
            stream = self._container.add_stream(
                "libx264", rate=Fraction(round(fps * 1000), 1000),
                options={"preset": "ultrafast", "tune": "zerolatency", "crf": str(self.crf)})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = self._time_base = frame.time_base or _DEFAULT_TIME_BASE
            stream.codec_context.gop_size = max(1, round(fps * self.keyframe_seconds))
            self._stream = stream
            self._container.start_encoding()  # connects and announces: fail here, not mid-write
        except media_library_errors() as exc:
            self._discard()
            raise SinkError(f"cannot publish to {redact(self.url)}: {error_detail(exc)}") from exc
        self._size = (width, height)
        self._first_pts = None
        logger.info("publishing %dx%d to %s", width, height, redact(self.url))

    def write(self, frame: Frame) -> None:
        pts = frame.pts or 0
        if self._first_pts is None:
            self._first_pts = pts
        out = video_from_rgb(fit(frame.image, *self._size))
        out.pts = pts - self._first_pts
        out.time_base = self._time_base
        if self._container is None or self._stream is None:
            raise SinkError(f"{self.name} is not open")
        with media_errors(f"publishing to {redact(self.url)}", SinkError):
            for packet in self._stream.encode(out):
                self._container.mux(packet)

    def close(self) -> None:
        if self._container is None or self._stream is None:
            return
        with media_errors_ignored(f"flushing {self.name}", logger):
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._discard()

    def _discard(self) -> None:
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            with media_errors_ignored(f"closing {self.name}", logger):
                container.close()

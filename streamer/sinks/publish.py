"""Publishing stylized frames to a server as H.264 (low-latency x264), through an FFmpeg muxer.

The base of :class:`~streamer.sinks.rtsp.RtspSink` (RTSP ``ANNOUNCE``/``RECORD``) and
:class:`~streamer.sinks.whip.WhipSink` (WHIP, RFC 9725): both encode with libx264
(``ultrafast``, ``zerolatency``, a keyframe every second so new viewers start quickly) and hand
packets to an FFmpeg muxer that connects when the first frame opens the sink. A lost connection
is reported as a :class:`~streamer.errors.SinkError`; the session reopens the sink with backoff.
"""

from __future__ import annotations

import abc
import logging
from fractions import Fraction

import av

from ..errors import SinkError, media_errors, media_errors_ignored, media_library_errors
from ..frames import Frame
from ..pixels import video_from_rgb
from ..sources.base import SourceInfo, error_detail, redact
from .base import Sink, fit, fit_even

__all__ = ["H264Publisher"]

logger = logging.getLogger(__name__)

_DEFAULT_TIME_BASE = Fraction(1, 90000)


class H264Publisher(Sink):
    """Encodes frames with libx264 and publishes them with the container :meth:`connect` opens.

    :param url: where to publish (credentials are redacted from messages).
    :param crf: x264 quality (lower is better).
    :param keyframe_seconds: a keyframe at least this often, so new viewers start quickly.
    :param timeout: seconds to wait for the server on connect and on each write.
    :param profile: H.264 profile (``baseline`` for WebRTC receivers); None: x264's choice.
    """

    reconnectable = True
    protocol = "stream"  #: for messages

    def __init__(self, url: str, *, crf: int = 23, keyframe_seconds: float = 1.0, timeout: float = 5.0,
                 profile: str | None = None) -> None:
        self.url = url
        self.name = f"{self.protocol} {redact(url)}"
        self.crf = crf
        self.keyframe_seconds = keyframe_seconds
        self.timeout = timeout
        self.profile = profile
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size = (0, 0)
        self._first_pts: int | None = None
        self._time_base = _DEFAULT_TIME_BASE

    @abc.abstractmethod
    def connect(self) -> av.container.OutputContainer:
        """Open the output container (not connected yet: that happens on the first packet)."""

    def open(self, frame: Frame, source: SourceInfo) -> None:
        width, height = fit_even(frame.width, frame.height)
        fps = source.fps or 30.0
        options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(self.crf)}
        if self.profile is not None:
            options["profile"] = self.profile
        try:
            self._container = self.connect()
            stream = self._container.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000), options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = self._time_base = frame.time_base or _DEFAULT_TIME_BASE
            stream.codec_context.gop_size = max(1, round(fps * self.keyframe_seconds))
            self._stream = stream
            self._container.start_encoding()  # connects and negotiates: fail here, not mid-write
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

"""Any FFmpeg URL or file as a live source, through PyAV: RTSP, HTTP(S), files played in real time.

.. code-block:: python

    source = StreamSource("rtsp://cam.local/stream", transport="udp", read_timeout=3)
    info = source.open()
    frame = source.read()      # SourceTimeoutError after 3 s without data
    source.close()
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import av

from ..errors import (
    ConfigError,
    SourceEndedError,
    SourceOpenError,
    SourceTimeoutError,
    media_errors_ignored,
    media_library_errors,
)
from ..frames import Frame
from ..pixels import rgb_from_video
from .base import AudioPacket, Source, SourceInfo, error_detail, redact

__all__ = ["RTSP_TRANSPORTS", "StreamSource", "is_network_url"]

logger = logging.getLogger(__name__)

RTSP_TRANSPORTS = ("tcp", "udp")
#: a frame that is due more than this late re-anchors real-time pacing instead of bursting
_MAX_PACING_LAG = 1.0
#: how much of a network stream FFmpeg may read to learn its streams (microseconds)
_NETWORK_ANALYZE_US = 500_000


def is_network_url(url: str) -> bool:
    """True for ``scheme://`` URLs other than ``file://`` (worth reconnecting to)."""
    scheme = urlsplit(url).scheme.lower()
    return len(scheme) > 1 and scheme != "file"


class _AudioTemplate:
    """A copy of an audio stream's codec parameters that outlives the input's container.

    Recordings add their audio stream from :attr:`stream`. It lives in a tiny in-memory
    container that never writes anything, so a reconnect that closes the input cannot leave a
    recording with a dangling stream. Each reconnect's stream is checked against it.
    """

    def __init__(self, stream: av.audio.AudioStream) -> None:
        self.key = self._key(stream)
        self.stream: av.audio.AudioStream | None = None
        self._holder = av.open(io.BytesIO(), "w", format="matroska")
        try:
            self.stream = self._holder.add_stream_from_template(stream)
        except media_library_errors() as exc:
            logger.info("audio stream (%s) cannot be passed through: %s", self.key[0], exc)

    @staticmethod
    def _key(stream: av.audio.AudioStream) -> tuple[object, ...]:
        ctx = stream.codec_context
        return (ctx.name, ctx.sample_rate, ctx.channels if hasattr(ctx, "channels") else None)

    def matches(self, stream: av.audio.AudioStream) -> bool:
        return self.stream is not None and self._key(stream) == self.key


class StreamSource(Source):
    """Frames of the first video stream of any FFmpeg input, read on the caller's thread.

    :param url: ``rtsp://``, ``http(s)://``, ``udp://``..., or a file path.
    :param transport: RTSP lower transport, ``"tcp"`` (default) or ``"udp"``.
    :param open_timeout: seconds to wait for the input to open.
    :param read_timeout: seconds without data before :meth:`read` raises
        :class:`~streamer.errors.SourceTimeoutError`.
    :param realtime: release frames at their own pace (default: on for files, off for network
        streams, which arrive in real time anyway).
    :param loop: start a file again at its end instead of ending.
    :param audio: report the first audio stream's packets to :attr:`on_audio`.
    :param options: extra FFmpeg demuxer/protocol options.
    """

    def __init__(
        self,
        url: str | Path,
        *,
        transport: str | None = None,
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        realtime: bool | None = None,
        loop: bool = False,
        audio: bool = False,
        options: Mapping[str, str] | None = None,
    ) -> None:
        self.url = str(url)
        self.network = is_network_url(self.url)
        scheme = urlsplit(self.url).scheme.lower() if self.network else ""
        self.rtsp = scheme in ("rtsp", "rtsps")
        if transport is not None and transport not in RTSP_TRANSPORTS:
            raise ConfigError(f"RTSP transport must be one of {', '.join(RTSP_TRANSPORTS)}, not {transport!r}")
        if transport is not None and not self.rtsp:
            raise ConfigError("--rtsp-transport only applies to rtsp:// inputs")
        if open_timeout <= 0 or read_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        self.transport = transport or "tcp"
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.realtime = (not self.network) if realtime is None else realtime
        self.loop = loop
        self.audio = audio
        self.options = dict(options or {})
        self.description = redact(self.url) if self.network else Path(self.url).name
        self.info: SourceInfo | None = None
        self._container: av.container.InputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.audio.AudioStream | None = None
        self._audio_template: _AudioTemplate | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._pending: deque[Frame] = deque()
        self._seq = 0
        self._anchor: tuple[float, float] | None = None  # (monotonic, source time) for pacing
        self._need_keyframe = False
        self._interrupted = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> SourceInfo:
        self.close()
        self._interrupted.clear()
        if not self.network and not Path(self.url).exists():
            raise SourceOpenError(f"no such file: {self.url}")
        options = dict(self.options)
        if self.rtsp:
            options.setdefault("rtsp_transport", self.transport)
        if self.network:  # probing 5 s of a live stream before the first frame is too long
            options.setdefault("analyzeduration", str(_NETWORK_ANALYZE_US))
        started = time.monotonic()
        try:
            self._container = av.open(self.url, "r", options=options,
                                      timeout=(self.open_timeout, self.read_timeout))
        except media_library_errors() as exc:
            waited = time.monotonic() - started
            if isinstance(exc, av.ExitError) or waited >= self.open_timeout * 0.95:
                raise SourceTimeoutError(
                    f"{self.description}: no answer within {self.open_timeout:g} s") from exc
            raise SourceOpenError(f"cannot open {self.description}: {error_detail(exc)}") from exc
        try:
            return self._prepare()
        except BaseException:
            self.close()
            raise

    def _prepare(self) -> SourceInfo:
        container = self._opened()
        videos = [s for s in container.streams.video if s.codec_context is not None]
        if not videos:
            raise SourceOpenError(f"{self.description} has no video stream")
        self._video = videos[0]
        self._video.thread_type = "SLICE"  # frame threading would delay every frame
        ctx = self._video.codec_context
        if not ctx.width or not ctx.height:
            raise SourceOpenError(f"{self.description}: video stream has no frame size ({ctx.name})")
        streams: list[av.VideoStream | av.audio.AudioStream] = [self._video]
        self._audio = self._pick_audio()
        if self._audio is not None:
            streams.append(self._audio)
        self._packets = container.demux(streams)
        self._pending.clear()
        self._anchor = None
        self._need_keyframe = self.network  # joining a live stream mid-way: wait for a clean picture
        rate = self._video.average_rate or self._video.guessed_rate
        self.info = SourceInfo(
            description=self.description, width=ctx.width, height=ctx.height,
            fps=float(rate) if rate else None, reconnectable=self.network,
            finite=not self.network and not self.loop,
            audio=self._audio_template.stream if self._audio is not None and self._audio_template else None,
        )
        return self.info

    def _opened(self) -> av.container.InputContainer:
        if self._container is None:
            raise SourceEndedError(f"{self.description} is not open")
        return self._container

    def _pick_audio(self) -> av.audio.AudioStream | None:
        audio = self._opened().streams.audio
        if not self.audio or not audio:
            return None
        stream = audio[0]
        if self._audio_template is None:
            self._audio_template = _AudioTemplate(stream)
        if not self._audio_template.matches(stream):
            logger.warning("%s: the audio stream changed after reconnecting; its audio is no longer recorded",
                           self.description)
            return None
        return stream

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self._packets = None
        self._video = self._audio = None
        self._pending.clear()
        if self._container is not None:
            container, self._container = self._container, None
            with media_errors_ignored(f"closing {self.description}", logger):
                container.close()

    # -- reading --------------------------------------------------------------------------
    def read(self) -> Frame:
        while not self._pending:
            if self._interrupted.is_set():
                raise SourceEndedError(f"{self.description}: stopped")
            if self._packets is None:
                raise SourceEndedError(f"{self.description} is not open")
            self._next_packet()
        frame = self._pending.popleft()
        if self.realtime:
            self._pace(frame)
        frame.captured_at = time.monotonic()
        return frame

    def _next_packet(self) -> None:
        assert self._packets is not None
        try:
            packet = next(self._packets)
        except StopIteration:
            self._restart_or_end()
            return
        except av.ExitError as exc:
            raise SourceTimeoutError(f"{self.description}: no data for {self.read_timeout:g} s") from exc
        except media_library_errors() as exc:
            raise SourceEndedError(f"{self.description}: connection lost ({error_detail(exc)})") from exc
        if packet.stream is self._audio:
            self._pass_audio(packet)
            return
        if self._need_keyframe:
            if not packet.is_keyframe:
                return  # decoding from here would show grey, half-drawn pictures
            self._need_keyframe = False
        try:
            decoded = packet.decode()
        except media_library_errors() as exc:  # a damaged packet: live streams carry on with the next one
            logger.debug("%s: skipping undecodable packet: %s", self.description, exc)
            return
        for image in decoded:
            self._pending.append(self._to_frame(image))

    def _to_frame(self, decoded: av.VideoFrame) -> Frame:
        time_base = decoded.time_base or (self._video.time_base if self._video is not None else None)
        frame = Frame(rgb_from_video(decoded), pts=decoded.pts, time_base=time_base, seq=self._seq)
        self._seq += 1
        return frame

    def _pass_audio(self, packet: av.Packet) -> None:
        if self.on_audio is None or not packet.size or self._audio_template is None:
            return
        when = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None
        packet.stream = self._audio_template.stream
        self.on_audio(AudioPacket(packet, when, self.epoch))

    def _restart_or_end(self) -> None:
        if not self.loop or self.network:
            self._packets = None
            raise SourceEndedError(f"{self.description} ended")
        container = self._opened()
        container.seek(0)
        self.epoch += 1
        self._anchor = None
        streams = [s for s in (self._video, self._audio) if s is not None]
        self._packets = container.demux(streams)

    def _pace(self, frame: Frame) -> None:
        """Wait until ``frame`` is due, measured from the first frame of this epoch."""
        when = frame.time
        if when is None:
            return
        now = time.monotonic()
        if self._anchor is None or when < self._anchor[1]:
            self._anchor = (now, when)
            return
        due = self._anchor[0] + (when - self._anchor[1])
        if now - due > _MAX_PACING_LAG:
            self._anchor = (now, when)
        elif due > now and self._interrupted.wait(due - now):
            raise SourceEndedError(f"{self.description}: stopped")

"""Reading media files (and any FFmpeg URL) for batch conversion, on a demux/decode thread.

:class:`MediaReader` yields, in file order, decoded video :class:`~streamer.frames.Frame`
objects and the untouched packets of every other stream (audio, subtitles) so a writer can
pass them through without re-encoding. What it does to stay faithful to the input:

* frames are turned the way players show them (rotated phone videos come out upright, see
  :mod:`~streamer.sources.orientation`);
* timestamps are made strictly increasing, from the right source (see
  :mod:`~streamer.timestamps`), and :attr:`MediaReader.end_pts` says where the video ends so
  the last frame keeps its duration;
* damage (a file cut short, unreadable parts, corrupt packets) does not stop it: it decodes
  what it can and :attr:`MediaReader.report` says what was found (see
  :mod:`~streamer.sources.integrity`);
* one video stream is read (the default one, else the first that is not cover art); the others
  are listed in :attr:`MediaReader.notices`; cover art is passed through like audio.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO

import av
from av.container import InputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..errors import ConfigError, DecodeError, SourceOpenError, media_errors, media_library_errors
from ..ffmpeg_log import FFmpegMessages, ffmpeg_messages, ffmpeg_quiet
from ..frames import Frame
from ..pixels import rgb_from_video
from ..priority import run_in_background_priority
from ..timestamps import FrameClock, TimestampSource, choose_timestamp_source, nominal_interval
from .integrity import ReadReport
from .orientation import Orientation, orientation_of

__all__ = ["MediaReader", "VideoInfo"]

logger = logging.getLogger(__name__)

#: frames decoded by :meth:`MediaReader.open` to choose the timestamp source and orientation
PEEK_FRAMES = 8

_ATTACHED_PIC = av.stream.Disposition.attached_pic
_DEFAULT = av.stream.Disposition.default


@dataclass(frozen=True)
class VideoInfo:
    """What a writer needs to know about the input's video stream."""

    width: int  #: as displayed (rotated video is turned upright)
    height: int  #: as displayed
    time_base: Fraction
    rate: Fraction | None  #: average frame rate, if known
    frames: int | None  #: frame count from the container, or an estimate from the duration
    duration: float | None  #: seconds
    codec: str
    pix_fmt: str | None
    orientation: Orientation = field(default_factory=Orientation)  #: how coded frames are turned
    stream_index: int = 0  #: the video stream read
    timestamps: TimestampSource = TimestampSource.PTS  #: where frame timestamps come from


@dataclass(frozen=True)
class _Failure:
    error: BaseException


def _duration_tag(stream: Stream) -> float | None:
    """Matroska's per-track ``DURATION`` tag (``"00:00:01.533000000"``) in seconds."""
    text = (stream.metadata or {}).get("DURATION")
    try:
        hours, minutes, seconds = str(text).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except (ValueError, AttributeError):
        return None


class MediaReader:
    """Demuxes and decodes a media file on its own thread.

    :param path: file path or FFmpeg URL, or a binary file object (e.g. bytes in memory).
    :param buffer: decoded frames held ahead of the consumer (the thread waits beyond that).
    :param background: run the thread at lower CPU priority than inference (batch work).
    :param video_stream: index of the video stream to read (default: the default one, else the
        first that is not cover art).
    :param orientation: how to turn the coded frames (default: as the file says; a piece of a
        file cut out elsewhere gets the whole file's).
    :param expected: decoder messages that are not damage until the first frame is decoded (a
        piece of a file cut out at an H.264 recovery point: references the decoder never saw);
        they are counted apart (:attr:`ReadReport.expected_errors`). Default: none.

    .. code-block:: python

        with MediaReader("clip.mp4") as reader:
            reader.open()
            reader.start()
            async for item in reader.items():
                ...  # Frame, or av.Packet of reader.copy_streams (audio, subtitles, cover art)
            reader.report.describe()  # None, or what was damaged
    """

    def __init__(self, path: str | Path | IO[bytes], buffer: int = 8, background: bool = True,
                 video_stream: int | None = None, orientation: Orientation | None = None,
                 expected: Callable[[str], bool] | None = None) -> None:
        self._source: str | IO[bytes] = str(path) if isinstance(path, str | Path) else path
        self.path = self._source if isinstance(self._source, str) else str(getattr(path, "name", "memory"))
        self.name = Path(self.path).name
        self.background = background
        self.video_stream = video_stream
        self._given_orientation = orientation
        self._expected = expected
        self._decoded = 0  # video frames the decoder has given
        self._decode_video = True
        self._container: InputContainer | None = None
        self._video: VideoStream | None = None
        self._packets: Iterator[av.Packet] = iter(())
        self._peeked: list[av.VideoFrame | av.Packet] = []
        self._clock: FrameClock | None = None
        self._orientation = Orientation()
        self.copy_streams: list[Stream] = []
        self.info: VideoInfo | None = None
        self.notices: list[str] = []  #: streams left out, orientation applied, ...
        self.report = ReadReport()  #: complete once :meth:`items` has ended
        self.end_pts: int | None = None  #: where the video ends (stream time base), once read
        self._last_pts: int | None = None
        self._last_duration = 0
        self._items: FrameBuffer[Frame | av.Packet | _Failure] = FrameBuffer(buffer, QueuePolicy.LOSSLESS)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._scope = contextlib.ExitStack()
        self._errors: FFmpegMessages | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> VideoInfo:
        """Open the container, pick the video stream and decode its first frames (blocking).

        :raises SourceOpenError: the file cannot be opened or has no video stream.
        :raises DecodeError: not a single video frame can be decoded.
        """
        with media_errors(f"cannot open {self.name}", SourceOpenError):
            self._container = av.open(self._source, "r")
        try:
            container = self._input
            video = self._video = self._pick_video_stream(container)
            video.thread_type = "AUTO"
            self.copy_streams = [s for s in container.streams if s is not video and (
                s.type in ("audio", "subtitle") or (s.type == "video" and s.disposition & _ATTACHED_PIC))]
            errors = ffmpeg_messages(video.codec_context.name, container.format.name)
            self._errors = self._scope.enter_context(errors)
            with media_errors(f"cannot read {self.name}"):
                self._packets = container.demux([video, *self.copy_streams])
                self._in_own_thread(self._peek)
            self.info = self._describe()
        except BaseException:
            self.close()
            raise
        return self.info

    @property
    def _input(self) -> InputContainer:
        if self._container is None:
            raise RuntimeError("open() the reader first")
        return self._container

    @property
    def _stream(self) -> VideoStream:
        if self._video is None:
            raise RuntimeError("open() the reader first")
        return self._video

    def _pick_video_stream(self, container: InputContainer) -> VideoStream:
        videos = [s for s in container.streams.video if s.codec_context is not None]
        if not videos:
            raise SourceOpenError(f"{self.name} has no video stream")
        if self.video_stream is not None:
            chosen = next((s for s in videos if s.index == self.video_stream), None)
            if chosen is None:
                listed = ", ".join(str(s.index) for s in videos)
                raise ConfigError(f"{self.name} has no video stream #{self.video_stream} (video streams: {listed})")
        else:
            moving = [s for s in videos if not s.disposition & _ATTACHED_PIC] or videos
            chosen = next((s for s in moving if s.disposition & _DEFAULT), moving[0])
        for other in videos:
            if other is chosen or other.disposition & _ATTACHED_PIC:  # cover art is copied like audio
                continue
            ctx = other.codec_context
            self.notices.append(f"video stream #{other.index} ({ctx.name}, {ctx.width}x{ctx.height}) left out: "
                                f"stream #{chosen.index} is the one stylized (--video-stream {other.index} "
                                f"picks it)")
        return chosen

    def _in_own_thread(self, work: Callable[[], None]) -> None:
        """Run ``work`` on a short-lived thread at the reader's priority and wait for it.

        The decoder opens on its first packet and its frame threads inherit the priority of the
        thread that opened it: that must be the reader's (background) priority, not the caller's.
        """
        failure: list[BaseException] = []

        def run() -> None:
            if self.background:
                run_in_background_priority()
            try:
                work()
            except BaseException as exc:  # re-raised on the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=run, name="streamer-demux-open", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    def _peek(self) -> None:
        """Decode up to :data:`PEEK_FRAMES` frames ahead (kept for the thread, in file order)."""
        frames = 0
        while frames < PEEK_FRAMES:
            packet = self._next_packet()
            if packet is None:
                break
            if packet.stream is self._video:
                for decoded in self._decode(packet):
                    self._peeked.append(decoded)
                    frames += 1
            elif packet.size:
                self._peeked.append(packet)
        if frames == 0:
            why = f": {self.report.first_error}" if self.report.first_error else ""
            raise DecodeError(f"cannot decode {self.name}: no video frame could be decoded{why}")

    def _describe(self) -> VideoInfo:
        stream = self._stream
        ctx = stream.codec_context
        first = next(item for item in self._peeked if isinstance(item, av.VideoFrame))
        self._orientation, note = orientation_of(first)
        if self._given_orientation is not None:
            self._orientation, note = self._given_orientation, None
        if note:
            self.notices.append(note)
        if not self._orientation.identity:
            self.notices.append(f"{self._orientation.describe()} for display: written upright")
        width, height = self._orientation.displayed_size(first.width, first.height)
        time_base = first.time_base or stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate
        rate = Fraction(rate) if rate else None
        peeked = [item for item in self._peeked if isinstance(item, av.VideoFrame)]
        source = choose_timestamp_source([f.pts for f in peeked], [f.dts for f in peeked],
                                         self._input.format.name)
        start = stream.start_time if stream.start_time is not None else 0
        self._clock = FrameClock(source, start, nominal_interval(rate, time_base))
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
            _duration_tag(stream)
        report = self.report
        report.start = float(start * time_base)
        report.rate = float(rate) if rate else None
        report.declared_frames = stream.frames or None
        if duration:
            report.declared_end = report.start + duration
        elif self._input.duration:
            report.declared_end = self._input.duration / av.time_base
            report.declared_end_is_video = False
            duration = report.declared_end - report.start
        frames = stream.frames or (round(duration * rate) if duration and rate else None)
        return VideoInfo(width=width, height=height, time_base=time_base, rate=rate, frames=frames or None,
                         duration=duration, codec=ctx.name, pix_fmt=ctx.pix_fmt, orientation=self._orientation,
                         stream_index=stream.index, timestamps=source)

    def start(self, video: bool = True) -> None:
        """Start the demux/decode thread (after :meth:`open`).

        :param video: False: only the packets of :attr:`copy_streams` are read (the video is
            neither decoded nor passed on, and :attr:`report` stays as :meth:`open` left it).
        """
        if self._container is None:
            raise RuntimeError("open() the reader first")
        self._decode_video = video
        if not video and self._errors is not None:  # the decoder's messages are then another reader's
            self._errors.watch_only(self._container.format.name)
        self._thread = threading.Thread(target=self._run, name="streamer-demux", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the container. Idempotent."""
        self._stop.set()
        self._items.close()
        self._items.drain()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        with ffmpeg_quiet():  # every reference to the decoder goes here, so it is freed here
            self._peeked.clear()
            self._packets = iter(())
            self._video = None
            self.copy_streams = []
            if self._container is not None:
                self._container.close()
                self._container = None
        self._scope.close()

    def __enter__(self) -> MediaReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- consuming ------------------------------------------------------------------------
    async def items(self) -> AsyncIterator[Frame | av.Packet]:
        """Decoded frames and pass-through packets, in file order.

        Damage does not raise: it is counted in :attr:`report`.

        :raises DecodeError: reading failed in a way that is not damage (e.g. out of memory).
        """
        while True:
            try:
                item = await self._items.get_async()
            except BufferClosed:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        if self.background:
            run_in_background_priority()
        try:
            self._demux()
        except BufferClosed:
            pass  # close() was called: stop quietly
        except BaseException as exc:  # handed to the consumer, which raises it
            error = exc if isinstance(exc, DecodeError) else DecodeError(f"cannot decode {self.name}: {exc}")
            error.__cause__ = exc
            try:
                self._items.put(_Failure(error))
            except BufferClosed:
                pass
        finally:
            self._items.close()

    def _demux(self) -> None:
        seq = 0
        peeked, self._peeked = self._peeked, []
        for item in peeked:
            if not isinstance(item, av.VideoFrame):
                self._items.put(item)
            elif self._decode_video:
                self._items.put(self._to_frame(item, seq))
                seq += 1
        while not self._stop.is_set():
            packet = self._next_packet()
            if packet is None:
                break
            if packet.stream is not self._video:
                if packet.size:
                    self._items.put(packet)
                continue
            if not self._decode_video:
                continue
            for decoded in self._decode(packet):
                self._items.put(self._to_frame(decoded, seq))
                seq += 1
        if not self._stop.is_set() and self._decode_video:
            self._finish_report(seq)

    def _take_errors(self) -> None:
        """Note FFmpeg's new error messages about this input (the decoder's are counted, but for
        those expected before the first frame)."""
        for name, message in self._errors.take() if self._errors is not None else []:
            decoder = name == self._stream.codec_context.name
            if decoder and self._decoded == 0 and self._expected is not None and self._expected(message):
                self.report.expected_errors += 1
                continue
            self.report.note_error(message)
            self.report.decoder_errors += decoder

    def _next_packet(self) -> av.Packet | None:
        """The next packet, or None at the end or where the file cannot be read any further."""
        try:
            packet = next(self._packets)
        except StopIteration:
            return None
        except media_library_errors() as exc:
            self.report.note_error(str(exc))
            last, time_base = self._last_pts, self._stream.time_base
            self.report.stopped_at = float(last * time_base) if last is not None and time_base else 0.0
            self._packets = iter(())
            return None
        self._take_errors()  # the demuxer's complaints name the damage; the frame counts measure it
        return packet

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            frames: list[av.VideoFrame] = packet.decode()
        except media_library_errors() as exc:
            self.report.failed_packets += 1
            self.report.note_error(str(exc))
            frames = []
        self._take_errors()  # messages that came with the first frame may still be from before it
        self._decoded += len(frames)
        self.report.decoder_errors += sum(f.is_corrupt for f in frames)
        return frames

    def _to_frame(self, decoded: av.VideoFrame, seq: int) -> Frame:
        assert self._clock is not None
        pts = self._clock.stamp(decoded.pts, decoded.dts)
        self._last_pts, self._last_duration = pts, decoded.duration or 0
        image = self._orientation.apply(rgb_from_video(decoded))
        return Frame(image, pts=pts, time_base=decoded.time_base or self._stream.time_base, seq=seq)

    def _finish_report(self, frames: int) -> None:
        """Fill in :attr:`report` and :attr:`end_pts` once every packet has been read."""
        assert self._clock is not None and self.info is not None
        self._take_errors()
        report, time_base = self.report, self.info.time_base
        report.frames = frames
        report.repaired_timestamps = self._clock.repaired
        if self._last_pts is None:
            return
        own = self._last_duration if self._last_duration > 0 else self._clock.interval
        report.decoded_end = float((self._last_pts + own) * time_base)
        self.end_pts = self._last_pts + own
        intact = not report.cut_short and report.stopped_at is None
        if intact and report.declared_end is not None and report.declared_end_is_video:
            declared = round(report.declared_end / time_base)
            if declared > self._last_pts:  # the input's own end: the last frame keeps its duration
                self.end_pts = declared

"""Writing stylized video to a file: encoding on its own thread, other streams passed through.

The output is written to a hidden temporary file next to the destination and renamed only
when it is complete, so a failure or Ctrl-C never leaves a half-written file behind.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from ..buffers import BufferClosed, FrameBuffer
from ..config import QueuePolicy
from ..errors import ConfigError, SinkError, media_errors, media_errors_ignored, media_library_errors
from ..frames import Frame
from ..media_streams import add_audio_stream, add_video_stream
from ..pixels import scaled_video_from_rgb
from ..timestamps import PacketDurations, stores_dts_durations
from .encoder_priority import EncoderPriority, PriorityMode
from .encoders import auto_video_encoder

__all__ = ["AUTO_CODEC", "EncodedPacket", "EncoderSettings", "MediaWriter", "default_video_codec",
           "video_encoder_stream"]

logger = logging.getLogger(__name__)

#: audio codec used when a stream must be re-encoded, by container format
_AUDIO_FALLBACK = {"webm": "libopus", "ogg": "libopus", "matroska": "aac", "mp4": "aac", "mov": "aac"}


def default_video_codec(path: str | Path) -> str:
    """H.264 for most containers; VP9 for WebM (which cannot hold H.264)."""
    return "libvpx-vp9" if Path(path).suffix.lower() == ".webm" else "libx264"


#: ``--codec`` value that picks a working hardware encoder (see :mod:`~streamer.sinks.encoders`)
AUTO_CODEC = "auto"


@dataclass(frozen=True)
class EncoderSettings:
    """Video encoder options (``--codec``, ``--crf``, ``--preset``)."""

    codec: str | None = None  #: None: :func:`default_video_codec` for the output name; "auto": hardware if it works
    crf: int | None = None  #: constant rate factor; None: 20 for x264/x265, 32 for VP9
    preset: str | None = None  #: encoder speed preset; None: "veryfast" for x264/x265

    def codec_for(self, path: str | Path) -> str:
        """The encoder name to use for ``path`` (``auto`` keeps VP9 for WebM, which holds no H.264/HEVC)."""
        if self.codec == AUTO_CODEC:
            default = default_video_codec(path)
            return auto_video_encoder().codec if default == "libx264" else default
        return self.codec or default_video_codec(path)

    def options(self, codec: str) -> dict[str, str]:
        """FFmpeg private options for ``codec``."""
        opts: dict[str, str] = {}
        quality = str(23 if self.crf is None else self.crf)
        if codec in ("libx264", "libx265"):
            opts["crf"] = str(20 if self.crf is None else self.crf)
            opts["preset"] = self.preset or "veryfast"
        elif codec.startswith("libvpx"):
            opts["crf"] = str(32 if self.crf is None else self.crf)
            opts["b"] = "0"
            opts["deadline"] = "realtime" if (self.preset or "") in ("ultrafast", "veryfast", "realtime") else "good"
            opts["cpu-used"] = "8"
        elif codec.endswith("_nvenc"):  # constant quality, like CRF
            opts.update({"rc": "vbr", "cq": quality, "b": "0"})
        elif codec.endswith("_qsv"):
            opts["global_quality"] = quality
        elif codec.endswith("_vaapi"):
            opts["qp"] = quality
        elif self.crf is not None:
            opts["crf"] = str(self.crf)
        return opts


class EncodedPacket(NamedTuple):
    """One already-encoded video packet (from an encoder elsewhere, e.g. a cluster worker)."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    duration: int  #: the duration of its frame (``time_base`` units), 0 if unknown


def video_encoder_stream(container: OutputContainer, path: Path, codec: str, width: int, height: int,
                         time_base: Fraction, rate: Fraction | None, settings: EncoderSettings) -> VideoStream:
    """Add the video encoder stream for stylized frames to ``container`` (written as ``path``).

    The one place the encoder is set up, so encoders elsewhere (cluster workers encoding chunks
    of one output) are configured exactly like the writer's own.

    :raises ConfigError: the container cannot hold ``codec``, or no usable pixel format.
    """
    try:  # PyAV's supported_codecs is incomplete (MPEG-TS lists 8): ask FFmpeg when adding
        stream = add_video_stream(container, codec, rate, settings.options(codec))
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{path.suffix or 'this'} files cannot hold {codec} video; pick "
                          f"another --codec or output extension") from exc
    stream.width, stream.height = width, height
    stream.pix_fmt = _pick_pix_fmt(stream, width, height)
    stream.codec_context.time_base = time_base
    if "avi" in container.format.name.split(","):
        stream.codec_context.max_b_frames = 0  # AVI stores no presentation timestamps to reorder by
    return stream


def _pick_pix_fmt(stream: VideoStream, width: int, height: int) -> str:
    formats = [f.name for f in (stream.codec_context.codec.video_formats or [])]
    even = width % 2 == 0 and height % 2 == 0
    if "yuv420p" in formats and even:
        return "yuv420p"
    if "yuv444p" in formats:  # 4:2:0 needs even sizes: keep odd sizes exact with 4:4:4
        return "yuv444p"
    if formats:
        return formats[0]
    raise ConfigError(f"encoder {stream.codec_context.name} has no usable pixel format")


def temporary_path(destination: Path) -> Path:
    """Hidden file in the destination's folder, keeping the extension so the muxer is chosen right."""
    return destination.with_name(f".{destination.stem}.partial-{os.getpid()}{destination.suffix}")


class _AudioTranscoder:
    """Decodes one input audio stream and re-encodes it for a container that cannot hold it."""

    def __init__(self, source: AudioStream, output: OutputContainer, codec: str) -> None:
        self.source = source
        rate = source.codec_context.sample_rate or 48000
        if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
            rate = 48000
        self.stream = add_audio_stream(output, codec, rate)
        layout = source.codec_context.layout.name if source.codec_context.layout else "stereo"
        self.stream.layout = layout
        formats = self.stream.codec_context.codec.audio_formats
        fmt = formats[0].name if formats else "fltp"
        self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)

    def encode(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = self.source.codec_context.decode(packet)
        out: list[av.Packet] = []
        for frame in frames:
            for resampled in self.resampler.resample(frame):
                out.extend(self.stream.encode(resampled))
        if packet is None:
            for resampled in self.resampler.resample(None):
                out.extend(self.stream.encode(resampled))
            out.extend(self.stream.encode(None))
        return out


class MediaWriter:
    """Encodes frames and muxes pass-through packets into a file, on its own thread.

    :param path: destination file; its extension picks the container.
    :param width: output width (the input's: output resolution always equals input resolution);
        frames of another size are scaled to it on the encode thread, so stylized frames can
        come at the processing size (see :func:`~streamer.pixels.scaled_video_from_rgb`).
    :param height: output height.
    :param time_base: unit of the frames' ``pts`` (the input stream's, so timestamps carry over).
    :param rate: nominal frame rate (container metadata).
    :param copy_streams: input streams whose packets will be passed through (or re-encoded
        when the container cannot hold their codec, with a notice).
    :param background: True: encode at lower CPU priority than inference from the start; False:
        never lower it (live recordings); None (batch default): normal priority, stepping back
        to background once the encoder waits for frames (see
        :mod:`~streamer.sinks.encoder_priority`).
    """

    def __init__(self, path: str | Path, width: int, height: int, time_base: Fraction,
                 rate: Fraction | None = None, copy_streams: Sequence[Stream] = (),
                 settings: EncoderSettings | None = None, buffer: int = 8, background: bool | None = None) -> None:
        self.path = Path(path)
        self.temp_path = temporary_path(self.path)
        self.width, self.height = width, height
        self.time_base = time_base
        self.rate = rate
        self.settings = settings or EncoderSettings()
        self.priority = EncoderPriority(PriorityMode.ADAPTIVE if background is None else
                                        PriorityMode.BACKGROUND if background else PriorityMode.NORMAL)
        self.notices: list[str] = []  #: what was re-encoded or dropped, and why
        self._copy_sources = list(copy_streams)
        self._container: OutputContainer | None = None
        self._video: VideoStream | None = None
        self._pix_fmt = "yuv420p"  # the encoder's, picked when the video stream is added
        self._copies: dict[Stream, Stream] = {}  # input stream -> output stream
        self._transcoders: dict[Stream, _AudioTranscoder] = {}
        self._items: FrameBuffer[Frame | av.Packet | EncodedPacket] = FrameBuffer(buffer, QueuePolicy.LOSSLESS)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._encoder_opened = threading.Event()  # set by the thread once it opened the encoder (or failed)
        self.frames_written = 0
        self._durations = PacketDurations(dts_durations=False)
        self._held_frame: Frame | None = None  # encoded once the next frame gives its duration
        self._held_packet: av.Packet | None = None  # the last video packet may need its duration fixed
        self._last_interval: int | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Create the temporary output and its streams, and start the encode thread.

        :raises SinkError: the file cannot be created. :raises ConfigError: bad codec options.
        """
        codec = self.settings.codec_for(self.path)
        try:
            av.codec.Codec(codec, "w")
        except media_library_errors() as exc:
            raise ConfigError(f"unknown video encoder {codec!r}") from exc
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        with media_errors(f"cannot write into {self.path.parent}", SinkError):
            self._container = av.open(str(self.temp_path), "w")
        self._durations = PacketDurations(stores_dts_durations(self._container.format.name))
        try:
            self._video = self._add_video(codec)
            for source in self._copy_sources:
                self._add_copy(source)
        except BaseException:
            self.abort()
            raise
        self._thread = threading.Thread(target=self._run, name="streamer-encode", daemon=True)
        self._thread.start()

    @property
    def _output(self) -> OutputContainer:
        if self._container is None:
            raise SinkError(f"{self.path.name} is not open")
        return self._container

    @property
    def _encoder(self) -> VideoStream:
        if self._video is None:
            raise SinkError(f"{self.path.name} is not open")
        return self._video

    def _add_video(self, codec: str) -> VideoStream:
        stream = video_encoder_stream(self._output, self.path, codec, self.width, self.height, self.time_base,
                                      self.rate, self.settings)
        self._pix_fmt = stream.pix_fmt or self._pix_fmt
        return stream

    def _add_copy(self, source: Stream) -> None:
        if source.type == "video":  # cover art (an attached picture)
            self._add_cover(source)
            return
        codec = source.codec_context.name if source.codec_context else None
        try:
            avi_audio = self._avi_frame_stream(source) if isinstance(source, AudioStream) else None
            self._copies[source] = avi_audio or self._output.add_stream_from_template(source)
            return
        except media_library_errors() as exc:  # e.g. "'webm' format does not support 'aac' codec"
            reason = str(exc)
        fallback = _AUDIO_FALLBACK.get(self._output.format.name.split(",")[0])
        if isinstance(source, AudioStream) and fallback:
            self._transcoders[source] = _AudioTranscoder(source, self._output, fallback)
            self.notices.append(f"audio stream #{source.index} ({codec}) re-encoded to {fallback}: {reason}")
        else:
            self.notices.append(f"{source.type} stream #{source.index} ({codec}) left out: {reason}")

    def _add_cover(self, source: Stream) -> None:
        """Copy cover art where the container keeps it as cover art (MP4); say so elsewhere."""
        codec = source.codec_context.name
        if not {"mp4", "ipod"}.intersection(self._output.format.name.split(",")):
            self.notices.append(f"cover picture #{source.index} ({codec}) left out: {self.path.suffix} files "
                                f"cannot hold cover art")
            return
        try:
            stream = self._output.add_stream_from_template(source)
            stream.disposition = source.disposition
            self._copies[source] = stream
        except media_library_errors() as exc:
            self.notices.append(f"cover picture #{source.index} ({codec}) left out: {exc}")

    def _avi_frame_stream(self, source: AudioStream) -> AudioStream | None:
        """An AVI stream for copied MP3/AC3 packets that keeps one packet per audio frame.

        Copied parameters carry the input's block size, which AVI then takes for a constant
        sample size, so players time the audio by byte count and lose sync (the ffmpeg
        command line clears it for the same reason). A stream made from the codec's own
        encoder, never fed, writes the header a fresh AVI would have.
        """
        canonical = source.codec_context.codec.canonical_name
        if "avi" not in self._output.format.name.split(",") or canonical not in ("mp3", "ac3"):
            return None
        try:
            stream = add_audio_stream(self._output, canonical, source.codec_context.sample_rate)
        except media_library_errors():
            return None  # no such encoder here: copy the parameters as they are
        stream.layout = source.codec_context.layout
        if source.codec_context.bit_rate:
            stream.bit_rate = source.codec_context.bit_rate
        stream.time_base = source.time_base
        return stream

    def _run(self) -> None:
        self.priority.start()
        try:
            try:
                with self.priority.opening_encoder():  # here, so the encoder's threads are known
                    self._encoder.codec_context.open()
            finally:
                self._encoder_opened.set()
            while True:
                started = time.perf_counter()
                try:
                    item = self._items.get()
                except BufferClosed:
                    break
                got = time.perf_counter()
                if isinstance(item, Frame):
                    self._encode(item)
                elif isinstance(item, EncodedPacket):
                    self._mux_encoded(item)
                else:
                    self._mux_packet(item)
                self.priority.account(got - started, time.perf_counter() - got, isinstance(item, Frame))
        except BaseException as exc:
            self._error = exc
            self._items.close()
            self._items.drain()

    def _encode(self, frame: Frame) -> None:
        """Encode the frame held back, now that this one says how long it lasts; hold this one."""
        held = self._held_frame
        if held is not None:
            interval = None if held.pts is None or frame.pts is None else frame.pts - held.pts
            if interval is not None and interval > 0:
                self._last_interval = interval
            self._encode_now(held, interval if interval and interval > 0 else None)
        self._held_frame = frame

    def _encode_now(self, frame: Frame, duration: int | None) -> None:
        out = scaled_video_from_rgb(frame.image, self.width, self.height, self._pix_fmt)
        out.pts = frame.pts
        out.time_base = self.time_base
        if frame.pts is not None and duration:
            self._durations.frame(frame.pts, duration)
        for packet in self._encoder.encode(out):
            self._mux_video(packet)
        self.frames_written += 1

    def _mux_encoded(self, encoded: EncodedPacket) -> None:
        packet = av.Packet(encoded.data)
        packet.pts, packet.dts = encoded.pts, encoded.dts
        packet.is_keyframe = encoded.keyframe
        packet.time_base = self.time_base
        packet.stream = self._encoder
        if encoded.pts is not None and encoded.duration:
            self._durations.frame(encoded.pts, encoded.duration)
        self._mux_video(packet)
        self.frames_written += 1

    def _mux_video(self, packet: av.Packet) -> None:
        self._durations.packet(packet)
        held, self._held_packet = self._held_packet, packet
        if held is not None:
            self._output.mux(held)

    def _flush_video(self, end_pts: int | None) -> None:
        """Encode the last frame (lasting until ``end_pts``), drain the encoder, fix the last packet."""
        last, self._held_frame = self._held_frame, None
        if last is not None:
            duration = self._last_interval or self._nominal_interval()
            if end_pts is not None and last.pts is not None and end_pts > last.pts:
                duration = end_pts - last.pts
            self._encode_now(last, duration)
            if last.pts is not None:
                end_pts = last.pts + duration
        for packet in self._encoder.encode(None):
            self._mux_video(packet)
        held, self._held_packet = self._held_packet, None
        if held is not None:
            if end_pts is not None:
                self._durations.last(held, end_pts)
            self._output.mux(held)

    def _nominal_interval(self) -> int:
        if self.rate:
            return max(1, round(1 / (self.rate * self.time_base)))
        return 1

    def _mux_packet(self, packet: av.Packet) -> None:
        source = packet.stream
        if source in self._copies:
            packet.stream = self._copies[source]
            self._output.mux(packet)
        elif source in self._transcoders:
            for encoded in self._transcoders[source].encode(packet):
                self._output.mux(encoded)

    # -- producer side --------------------------------------------------------------------
    def _check(self) -> None:
        if self._error is not None:
            raise SinkError(f"cannot write {self.path.name}: {self._error}") from self._error

    def video_extradata(self) -> bytes | None:
        """The video encoder's global header (waits for the encode thread to open the encoder).

        Already-encoded packets (:class:`EncodedPacket`) must come from an encoder with the same.
        """
        self._encoder_opened.wait()
        self._check()
        data = self._encoder.codec_context.extradata
        return bytes(data) if data else None

    async def write_async(self, item: Frame | av.Packet | EncodedPacket) -> None:
        """Queue a frame (to encode), an already-encoded video packet (in :attr:`time_base`
        units, in decode order) or a packet of a copied stream, waiting for room."""
        self._check()
        try:
            await self._items.put_async(item)
        except BufferClosed:
            self._check()
            raise SinkError(f"{self.path.name} is closed") from None

    def write(self, item: Frame | av.Packet | EncodedPacket, timeout: float | None = None) -> None:
        """Thread-side :meth:`write_async`."""
        self._check()
        try:
            self._items.put(item, timeout)
        except BufferClosed:
            self._check()
            raise SinkError(f"{self.path.name} is closed") from None

    def finish(self, end_pts: int | None = None) -> Path:
        """Flush the encoders, finalize the file and move it into place (blocking).

        :param end_pts: where the video ends (``time_base`` units), so the last frame keeps
            its duration; default: one frame interval after it.
        :raises SinkError: encoding failed (the partial file is removed).
        """
        self._items.close()
        if self._thread is not None:
            self._thread.join()
        try:
            self._check()
            with media_errors(f"cannot finalize {self.path.name}", SinkError):
                self._flush_video(end_pts)
                for transcoder in self._transcoders.values():
                    for packet in transcoder.encode(None):
                        self._output.mux(packet)
                self._output.close()
                self._container = None
            with media_errors(f"cannot write {self.path}", SinkError):
                os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Stop without finalizing and delete the temporary file. Idempotent."""
        self._items.close()
        self._items.drain()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._container is not None:
            with media_errors_ignored(f"discarding {self.temp_path.name}", logger):
                self._container.close()
            self._container = None
        try:
            self.temp_path.unlink(missing_ok=True)
        except OSError as exc:  # e.g. a read-only folder, where it was never created
            logger.debug("cannot remove %s: %s", self.temp_path, exc)

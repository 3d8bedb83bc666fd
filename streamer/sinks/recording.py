"""Recording a live session to a file, with the source's audio passed through untouched.

Built on :class:`~streamer.sinks.file.MediaWriter`: the file is written under a temporary name
and renamed when the session stops (Ctrl-C included), so it is either finalized and playable
or absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av

from ..errors import ConfigError, SinkError
from ..frames import Frame
from ..sources.base import AudioPacket, SourceInfo
from .base import Sink, fit
from .file import EncoderSettings, MediaWriter

__all__ = ["RecordingSink"]

logger = logging.getLogger(__name__)


class RecordingSink(Sink):
    """Encodes stylized frames into ``path`` (H.264 by default) on the session clock.

    :param path: the recording; its extension picks the container.
    :param settings: encoder options (``veryfast`` x264 unless given).
    :param audio: pass the source's audio through when it has some.
    """

    accepts_audio = True

    def __init__(self, path: str | Path, settings: EncoderSettings | None = None, audio: bool = True) -> None:
        self.path = Path(path)
        self.name = f"recording {self.path.name}"
        self.settings = settings or EncoderSettings()
        self.audio = audio
        self.saved: Path | None = None
        self._writer: MediaWriter | None = None
        self._audio_stream: av.audio.AudioStream | None = None
        self._size = (0, 0)

    def check(self) -> None:
        if not self.path.parent.is_dir():
            raise ConfigError(f"cannot record to {self.path}: folder {self.path.parent} does not exist")
        if not self.path.suffix:
            raise ConfigError(f"give the recording a file extension (.mp4, .mkv, ...): {self.path}")

    def open(self, frame: Frame, source: SourceInfo) -> None:
        if frame.time_base is None:
            raise SinkError("frames without timestamps cannot be recorded")
        self._audio_stream = source.audio if self.audio else None
        copies = [self._audio_stream] if self._audio_stream is not None else []
        writer = MediaWriter(self.path, frame.width, frame.height, frame.time_base, rate=None,
                             copy_streams=copies, settings=self.settings, background=False)
        writer.open()
        for notice in writer.notices:
            logger.warning("%s: %s", self.path.name, notice)
        self._writer = writer
        self._size = (frame.width, frame.height)

    def write(self, frame: Frame) -> None:
        assert self._writer is not None
        self._writer.write(frame.with_image(fit(frame.image, *self._size)))

    def write_audio(self, packet: AudioPacket) -> None:
        if self._writer is not None and self._audio_stream is not None and packet.packet.stream is self._audio_stream:
            self._writer.write(packet.packet)

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self.saved = writer.finish()
            logger.warning("recording saved: %s (%d frames)", self.saved, writer.frames_written)

"""Adding a video or audio stream to an output file when the codec is chosen at run time.

PyAV types ``add_stream`` by the codec name when it is a literal; for a name in a variable it
may be any kind of stream. These helpers check the kind, so a wrong ``--codec`` (an audio
encoder for the video) is a clear :class:`~streamer.errors.ConfigError`, and callers get
PyAV's own stream types.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

from .errors import ConfigError

__all__ = ["add_audio_stream", "add_video_stream"]


def add_video_stream(container: OutputContainer, codec: str, rate: Fraction | int | None = None,
                     options: dict[str, str] | None = None) -> VideoStream:
    """A new video stream encoded with ``codec`` (with encoder ``options``).

    :raises ConfigError: ``codec`` is not a video encoder. :raises ValueError: from PyAV, when
        the container cannot hold it or there is no such encoder.
    """
    _check_kind(codec, "video")
    stream = container.add_stream(codec, rate=rate, options=options)
    if not isinstance(stream, VideoStream):
        raise ConfigError(f"{codec} is not a video encoder")
    return stream


def add_audio_stream(container: OutputContainer, codec: str, rate: int | None = None) -> AudioStream:
    """A new audio stream encoded with ``codec``.

    :raises ConfigError: ``codec`` is not an audio encoder. :raises ValueError: as for
        :func:`add_video_stream`.
    """
    _check_kind(codec, "audio")
    stream = container.add_stream(codec, rate=rate)
    if not isinstance(stream, AudioStream):
        raise ConfigError(f"{codec} is not an audio encoder")
    return stream


def _check_kind(codec: str, kind: Literal["video", "audio"]) -> None:
    """Refuse an encoder of another kind before PyAV trips over its options (an audio encoder
    given a frame rate raises a bare ``TypeError``)."""
    found = av.codec.Codec(codec, "w").type
    if found != kind:
        raise ConfigError(f"{codec} is not {'an' if kind == 'audio' else 'a'} {kind} encoder (it encodes {found})")

"""The contract of a live source: open it, read frames one by one, interrupt it, close it.

A live source is read by one capture thread (:mod:`streamer.live.capture`), which owns it.
``read`` blocks for at most the source's read timeout, so that thread can never hang forever.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic

import av

from ..frames import Frame

__all__ = ["AudioPacket", "Source", "SourceInfo", "error_detail", "redact"]

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<auth>[^/@\s]*@)")


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, for messages and logs.

    .. code-block:: python

        redact("rtsp://admin:secret@cam.local/stream")  # "rtsp://***@cam.local/stream"
    """
    return _CREDENTIALS.sub(r"\g<scheme>***@", url)


def error_detail(exc: BaseException) -> str:
    """The reason an I/O error gives (FFmpeg's ``strerror`` without the URL), redacted."""
    return redact(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)


@dataclass(frozen=True)
class SourceInfo:
    """What an opened source delivers.

    :param description: how to name the source in messages (credentials redacted).
    :param width: frame width in pixels.
    :param height: frame height in pixels.
    :param fps: nominal frame rate, if known.
    :param reconnectable: worth reopening after a disconnect or stall (network streams).
    :param finite: ends on its own (a file): reaching its end is not an error.
    :param audio: a stream whose packets can be passed through to a recording (``None`` if none).
    :param notes: things the user should know, e.g. the mode a camera granted instead of the one
        asked for.
    """

    description: str
    width: int
    height: int
    fps: float | None = None
    reconnectable: bool = False
    finite: bool = False
    audio: av.audio.AudioStream | None = None
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line: ``rtsp://***@cam/stream: 1280x720 @ 25 fps``."""
        rate = f" @ {self.fps:g} fps" if self.fps else ""
        return f"{self.description}: {self.width}x{self.height}{rate}"


@dataclass(eq=False)
class AudioPacket:
    """An encoded audio packet on its way to a recording, untouched.

    :param packet: the ``av.Packet``.
    :param time: its presentation time in the source's clock (seconds), if known.
    :param epoch: the source's epoch when it was read (see :attr:`Source.epoch`).
    :param captured_at: :func:`time.monotonic` when it was read.
    """

    packet: av.Packet
    time: float | None
    epoch: int = 0
    captured_at: float = field(default_factory=monotonic)


class Source(abc.ABC):
    """A source of frames for the live pipeline.

    Subclasses implement :meth:`open`, :meth:`read` and :meth:`close`; :meth:`interrupt` may be
    called from any thread to make a blocked :meth:`read` or :meth:`open` return soon.
    """

    #: bumped when the source's own clock restarts (a looping file); timestamps of different
    #: epochs are not comparable.
    epoch: int = 0
    #: called (on the reading thread) with the :class:`AudioPacket` objects met while reading.
    on_audio: Callable[[AudioPacket], None] | None = None

    @abc.abstractmethod
    def open(self) -> SourceInfo:
        """Open (or reopen after :meth:`close`) the source.

        :raises SourceOpenError: it cannot be opened.
        :raises SourceTimeoutError: it did not answer within the open timeout.
        """

    @abc.abstractmethod
    def read(self) -> Frame:
        """The next frame; ``captured_at`` is when it arrived, ``pts``/``time_base`` its own clock.

        :raises SourceEndedError: the source ended (end of file, camera gone, closed).
        :raises SourceTimeoutError: nothing arrived within the read timeout.
        """

    def interrupt(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Ask a blocked :meth:`read` to return soon (thread-safe)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or connection. Idempotent."""

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

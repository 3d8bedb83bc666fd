"""Exceptions raised by streamer.

Every error a user can cause derives from :class:`StreamerError`; the CLI prints its message
on one line and exits non-zero. Errors that have a natural builtin counterpart also subclass it,
so callers can catch either::

    StreamerError
    ├── ConfigError (ValueError)            bad option or argument value
    ├── ModelError (ValueError)             a model file is missing, not TFLite, or has the wrong shapes
    ├── BackendUnavailableError (RuntimeError)  the requested backend cannot run here
    ├── StyleError (ValueError)             a style name, image or embedding cannot be used
    ├── MediaError                          reading or writing media failed
    │   ├── SourceOpenError (ConnectionError)
    │   ├── SourceTimeoutError (TimeoutError)
    │   ├── SourceEndedError                a live source ended for good
    │   ├── DecodeError
    │   └── SinkError
    ├── EngineClosedError (RuntimeError)    work submitted to a stopped engine
    ├── ClusterError (RuntimeError)         Ray cannot start, connect, or keep a worker alive
    └── FrameDropped                        a frame was dropped by the drop-oldest policy (not a failure)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = [
    "BackendUnavailableError",
    "ClusterError",
    "ConfigError",
    "DecodeError",
    "EngineClosedError",
    "FrameDropped",
    "MediaError",
    "ModelError",
    "SinkError",
    "SourceEndedError",
    "SourceOpenError",
    "SourceTimeoutError",
    "StreamerError",
    "StyleError",
    "engine_failed",
    "media_errors",
    "media_errors_ignored",
    "media_library_errors",
]


class StreamerError(Exception):
    """Base class of every error streamer raises on purpose."""


class ConfigError(StreamerError, ValueError):
    """An option or argument has a value streamer cannot use."""


class ModelError(StreamerError, ValueError):
    """A model file is missing, is not a TFLite model, or does not have the expected shapes."""


class BackendUnavailableError(StreamerError, RuntimeError):
    """The requested inference backend cannot run on this machine."""


class StyleError(StreamerError, ValueError):
    """A style name, style image or embedding cannot be used."""


class MediaError(StreamerError):
    """Reading or writing media failed."""


class SourceOpenError(MediaError, ConnectionError):
    """A source (file, URL, camera) could not be opened."""


class SourceTimeoutError(MediaError, TimeoutError):
    """A source did not deliver data within its timeout."""


class SourceEndedError(MediaError):
    """A live source ended and will not come back (camera unplugged, retries exhausted)."""


class DecodeError(MediaError):
    """Media data could not be demuxed or decoded."""


class SinkError(MediaError):
    """An output (file, stream, device) could not be opened or written."""


class ClusterError(StreamerError, RuntimeError):
    """Ray cannot start or connect, or a chunk's worker kept dying."""


class EngineClosedError(StreamerError, RuntimeError):
    """Work was submitted to an engine or stream that has been stopped, or whose inference
    thread failed; then :attr:`cause` (also ``__cause__``) is the exception that stopped it.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


def engine_failed(cause: BaseException) -> EngineClosedError:
    """The error every submit gets once the inference thread has failed with ``cause``."""
    detail = str(cause).strip().splitlines()
    summary = f"{type(cause).__name__}: {detail[0]}" if detail else type(cause).__name__
    return EngineClosedError(f"inference failed: {summary}", cause)


class FrameDropped(StreamerError):
    """Set on a frame's future when the drop-oldest policy discarded it before inference."""


def media_library_errors() -> tuple[type[Exception], ...]:
    r"""What PyAV/FFmpeg and the OS raise for bad or unreachable media: the one list every
    ``except`` around PyAV uses (FFmpeg errors, ``OSError``, and PyAV's ``ValueError``\ s)."""
    import av

    return (av.FFmpegError, OSError, ValueError)


@contextlib.contextmanager
def media_errors(what: str, error: type[MediaError] = DecodeError) -> Iterator[None]:
    """Convert PyAV/FFmpeg and OS errors raised inside the block into ``error``.

    :param what: short description prefixed to the message, e.g. ``"cannot read clip.mp4"``.
    :param error: the :class:`MediaError` subclass to raise.
    """
    from .sources.base import error_detail

    try:
        yield
    except StreamerError:
        raise
    except media_library_errors() as exc:
        raise error(f"{what}: {error_detail(exc)}") from exc


@contextlib.contextmanager
def media_errors_ignored(what: str, log: logging.Logger) -> Iterator[None]:
    """Swallow PyAV/FFmpeg and OS errors raised inside the block, logging them at debug level
    (closing or flushing something that is being thrown away anyway)."""
    from .sources.base import error_detail

    try:
        yield
    except media_library_errors() as exc:
        log.debug("%s: %s", what, error_detail(exc))

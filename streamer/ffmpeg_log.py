"""FFmpeg's error messages, collected so they can be acted on (damage counts, failure reasons).

PyAV drops FFmpeg's log by default, and PyAV's exceptions then lack FFmpeg's explanation
(``Operation not permitted`` instead of ``Cannot load libcuda.so.1``). While a
:func:`ffmpeg_messages` block is active, error messages are captured process-wide (none
reaches Python logging) and claimed by the name FFmpeg logs them under: a codec's name
(``"h264"``, ``"h264_nvenc"``) or a container format's (``"mov,mp4,m4a,3gp,3g2,mj2"``).
FFmpeg decodes on its own worker threads, so messages cannot be told apart by thread; two
blocks watching the same name at the same time may claim each other's messages, but a block
never takes a message logged under a name only another block watches. Messages nobody
watches go to this module's logger at debug level.

Every message counts: PyAV by default drops a message equal to the one before it (and says
"repeated N more times" only with the next different one), so the same damage read twice in one
process -- a worker reading a file whole after one of its chunks -- would lose its message the
second time. Collecting blocks switch that off while they run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import av
import av.logging

__all__ = ["FFmpegMessages", "ffmpeg_messages", "ffmpeg_quiet"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
#: a few of Python's thread switch intervals (5 ms)
_GIL_HANDOVER_SECONDS = 0.02
_users = 0  # active ffmpeg_messages blocks
_quiet = 0  # active ffmpeg_quiet blocks
_base_level: int | None = None  # PyAV's level before either kind of block took over
_base_skip_repeated = True  # PyAV's dropping of repeated messages before the first collecting block
_capture: av.logging.Capture | None = None
_shared: list[tuple[int, str, str]] = []  # PyAV appends (level, name, message) here
_pending: list[tuple[str, str]] = []  # (name, message) moved out of _shared, for a block still to take
_watching: list[FFmpegMessages] = []  # the active blocks


def _take_over() -> None:
    """Remember PyAV's own level when the first block of either kind starts (under ``_lock``)."""
    global _base_level
    if _users == 0 and _quiet == 0:
        _base_level = av.logging.get_level()


def _apply_level() -> None:
    """Set PyAV's level for the active blocks (under ``_lock``): off while any quiet block runs,
    at least ``ERROR`` while messages are collected, else what it was before."""
    if _quiet:
        wanted = None
    elif _users and _base_level is None:
        wanted = av.logging.ERROR
    else:
        wanted = _base_level
    if av.logging.get_level() != wanted:
        av.logging.set_level(wanted)


class FFmpegMessages:
    """The error messages FFmpeg logs under some names (see :func:`ffmpeg_messages`)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def watch_only(self, *names: str) -> None:
        """Watch ``names`` from now on (fewer, e.g. once a reader stops decoding)."""
        with _lock:
            self.names = frozenset(names)

    def take(self) -> list[tuple[str, str]]:
        """(name, message) for each message logged under :attr:`names` since the last call;
        messages under names other active blocks watch are left for them."""
        mine: list[tuple[str, str]] = []
        unwatched: list[tuple[str, str]] = []
        kept: list[tuple[str, str]] = []
        with _lock:
            count = len(_shared)  # PyAV may append meanwhile: only these are moved
            _pending.extend((name, message.strip()) for _, name, message in _shared[:count])
            del _shared[:count]
            watched = frozenset[str]().union(*(block.names for block in _watching))
            for name, message in _pending:
                (mine if name in self.names else kept if name in watched else unwatched).append((name, message))
            _pending[:] = kept
        for name, message in unwatched:
            logger.debug("ffmpeg %s: %s", name, message)
        return mine


@contextlib.contextmanager
def ffmpeg_messages(*names: str) -> Iterator[FFmpegMessages]:
    """Collect FFmpeg's error messages logged under ``names`` while the block runs.

    The log level is raised to ``ERROR`` while any block is active and restored after the last,
    and so is PyAV's dropping of repeated messages (off while collecting).
    """
    global _users, _capture, _shared, _base_skip_repeated
    with _lock:
        _take_over()
        if _users == 0:
            _base_skip_repeated = av.logging.get_skip_repeated()
            av.logging.set_skip_repeated(False)
            _capture = av.logging.Capture(local=False)
            _shared = _capture.__enter__()
        _users += 1
        _apply_level()
        block = FFmpegMessages(frozenset(names))
        _watching.append(block)
    try:
        yield block
    finally:
        with _lock:
            _watching.remove(block)
            _users -= 1
            if _users == 0 and _capture is not None:
                _capture.__exit__(None, None, None)
                _capture = None
                _shared = []
                _pending.clear()
                av.logging.set_skip_repeated(_base_skip_repeated)
            _apply_level()


@contextlib.contextmanager
def ffmpeg_quiet() -> Iterator[None]:
    """Drop FFmpeg's messages while the block runs (for closing decoders and containers).

    PyAV's log callback takes the GIL. A decoder freed on a thread that holds the GIL joins its
    frame threads, and one of them logging at that moment waits for the GIL forever: a deadlock
    (seen with H.264 frame threads when a file is opened and closed without being read to the
    end). The callback is switched off and threads already inside it are let through before the
    block runs. Messages of a teardown are not needed; other blocks' messages in that moment are
    lost.
    """
    global _quiet
    with _lock:
        _take_over()
        logging_before = av.logging.get_level() is not None
        _quiet += 1
        _apply_level()
    if logging_before:  # a thread that entered PyAV's callback just before waits for the GIL
        time.sleep(_GIL_HANDOVER_SECONDS)
    try:
        yield
    finally:
        with _lock:
            _quiet -= 1
            _apply_level()

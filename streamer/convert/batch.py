"""Converting many files: one engine, one file after another, a summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..config import ProcessingSize
from ..engine import Engine
from ..errors import EngineClosedError, StreamerError
from ..sinks.file import EncoderSettings
from ..sources.media import VideoInfo
from ..styles import StyleRecipe
from .image import convert_image
from .plan import Job
from .video import convert_video

__all__ = ["FileOutcome", "Progress", "recording_failure", "run_jobs"]

logger = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    """Result of one file: ``ok`` with frames written, or the error message.

    A damaged input that was converted as far as it decodes is ``ok`` with ``damage`` set.
    """

    job: Job
    ok: bool
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    damage: str | None = None


class Progress:
    """Progress display hooks (the default shows nothing)."""

    def start_file(self, job: Job, info: VideoInfo | None) -> None:
        """A file begins (``info`` is None for images)."""

    def advance(self, frames: int = 1) -> None:
        """Frames were written."""

    def end_file(self, outcome: FileOutcome) -> None:
        """A file ended, well or not."""


@contextlib.contextmanager
def recording_failure(outcome: FileOutcome, progress: Progress, keep_going: bool) -> Iterator[None]:
    """Record an error in the block as ``outcome``'s (raised again unless ``keep_going``);
    a cancellation marks the file interrupted and ends it on ``progress``."""
    try:
        yield
    except StreamerError as exc:
        outcome.error = str(exc)
        if not keep_going or isinstance(exc, EngineClosedError):  # no engine: no file can go on
            progress.end_file(outcome)
            raise
    except asyncio.CancelledError:
        outcome.error = "interrupted"
        progress.end_file(outcome)
        raise


async def run_jobs(engine: Engine, jobs: list[Job], recipe: StyleRecipe, size: ProcessingSize,
                   settings: EncoderSettings | None = None, progress: Progress | None = None,
                   keep_going: bool = True, video_stream: int | None = None) -> list[FileOutcome]:
    """Convert ``jobs`` in order; a failing file is reported and the rest continue.

    Cancellation (Ctrl-C) stops at once: the current file's partial output is removed, files
    already finished are kept.
    """
    progress = progress or Progress()
    outcomes = []
    for job in jobs:
        started = time.perf_counter()
        outcome = FileOutcome(job, ok=False)
        with recording_failure(outcome, progress, keep_going):
            if job.is_image:
                progress.start_file(job, None)
                outcome.notices = await convert_image(engine, job.source, job.destination, recipe, size)
                outcome.frames = 1
                progress.advance()
            else:
                result = await convert_video(engine, job.source, job.destination, recipe, size, settings,
                                             on_start=functools.partial(progress.start_file, job),
                                             on_frame=progress.advance, video_stream=video_stream)
                outcome.frames, outcome.notices, outcome.damage = result.frames, result.notices, result.damage
            outcome.ok = True
        outcome.seconds = time.perf_counter() - started
        for notice in outcome.notices:
            logger.warning("%s: %s", job.source.name, notice)
        if outcome.damage:
            logger.warning("%s: %s", job.source.name, outcome.damage)
        progress.end_file(outcome)
        outcomes.append(outcome)
    return outcomes

"""The encode thread's CPU priority: the bottleneck of a conversion keeps its priority.

Batch decode and encode used to run in the background (see :mod:`~streamer.priority`) so that
inference, the slow side with Magenta's model, never waits for the CPU. With the fast model
the encoder is the slow side (x264 at 720p costs two to four times the CPU of inference) and a
background encoder starves the bottleneck. So the encoder starts at normal priority and watches
itself: if over a window of frames it spends more than :data:`STEP_BACK_IDLE` of its time
waiting for frames, it is not the bottleneck, and it and the encoder's own threads step back to
background priority (lowering is always allowed; raising it again would need privileges).
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator

from ..priority import lower_priority, run_in_background_priority, thread_ids

__all__ = ["STEP_BACK_IDLE", "EncoderPriority", "PriorityMode"]

logger = logging.getLogger(__name__)

#: share of time spent waiting for frames above which the encoder is not the bottleneck
STEP_BACK_IDLE = 0.3
#: frames skipped at the start (the first frames wait for the model to warm up), then watched
_SKIP_FRAMES, _WINDOW_FRAMES = 4, 24


class PriorityMode(enum.StrEnum):
    """How the encode thread sets its priority."""

    ADAPTIVE = "adaptive"  #: normal, stepping back to background once it waits for frames
    BACKGROUND = "background"  #: below inference from the start
    NORMAL = "normal"  #: never lowered (live recordings: latency matters)


class EncoderPriority:
    """Priority policy of one encode thread; every method runs on that thread."""

    def __init__(self, mode: PriorityMode = PriorityMode.ADAPTIVE) -> None:
        self.mode = mode
        self.stepped_back = False
        self._decided = False
        self._encoder_threads: set[int] = set()
        self._frames = 0
        self._waited = 0.0
        self._worked = 0.0

    def start(self) -> None:
        """Called first on the encode thread."""
        if self.mode is PriorityMode.BACKGROUND:
            run_in_background_priority()

    @contextlib.contextmanager
    def opening_encoder(self) -> Iterator[None]:
        """Wrap the encoder's opening: the threads it starts are the encoder's own."""
        before = thread_ids()
        yield
        self._encoder_threads = thread_ids() - before

    def account(self, waited: float, worked: float, frame: bool) -> None:
        """One item handled: ``waited`` seconds for it, ``worked`` seconds on it."""
        if self.mode is not PriorityMode.ADAPTIVE or self._decided:
            return
        self._frames += frame
        if self._frames <= _SKIP_FRAMES:
            return
        self._waited += waited
        self._worked += worked
        if self._frames >= _SKIP_FRAMES + _WINDOW_FRAMES:
            idle = self._waited / max(self._waited + self._worked, 1e-9)
            self._decided = True  # once per file
            if idle > STEP_BACK_IDLE:
                self.step_back()
            else:
                logger.debug("encoder is the bottleneck (waits %.0f%% of the time): normal priority", 100 * idle)

    def step_back(self) -> None:
        """Lower the calling (encode) thread and the encoder's threads to background priority."""
        run_in_background_priority()
        lower_priority(self._encoder_threads)
        self.stepped_back = True
        logger.debug("encoder waits for frames: background priority (%d encoder threads)", len(self._encoder_threads))

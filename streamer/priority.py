"""Thread priorities: batch I/O threads yield the CPU to the inference thread.

On a machine where inference already keeps every core busy, decode and encode threads running
at the same priority preempt XNNPACK's workers, whose thread pool then waits at every barrier
for the preempted one: measured here, overlapped conversion ran *slower* than a one-thread
loop. Lowering the I/O threads' priority lets them use only the cycles inference leaves idle;
their bounded queues keep them from falling behind for long.

When the encoder is the slower side (a fast model, a slow x264 preset), the same rule starves
the bottleneck instead; :class:`~streamer.sinks.file.MediaWriter` therefore starts at normal
priority and steps back (:func:`lower_priority`) only once it sees itself waiting for frames.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable

__all__ = ["BACKGROUND_NICENESS", "lower_other_threads", "lower_priority", "run_in_background_priority",
           "thread_ids"]

logger = logging.getLogger(__name__)

#: niceness added to batch I/O threads (threads they create, such as FFmpeg's, inherit it)
BACKGROUND_NICENESS = 10


def run_in_background_priority(increment: int = BACKGROUND_NICENESS) -> None:
    """Lower the calling thread's CPU priority by ``increment`` (Linux: per thread; else no-op)."""
    if hasattr(threading, "get_native_id"):
        lower_priority([threading.get_native_id()], increment)


def lower_priority(tids: Iterable[int], increment: int = BACKGROUND_NICENESS) -> None:
    """Lower the CPU priority of the threads ``tids`` (native ids) by ``increment`` (Linux only)."""
    if not hasattr(os, "setpriority"):
        return
    for tid in tids:
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
        except OSError as exc:  # gone, not allowed or not supported: leave it
            logger.debug("cannot lower the priority of thread %s: %s", tid, exc)


def lower_other_threads(keep: int, increment: int = BACKGROUND_NICENESS) -> int:
    """Put every thread of this process but ``keep`` (a native id) ``increment`` nicer than
    ``keep`` (at most 19); threads already that nice or nicer are left alone. Idempotent, so it
    can be repeated to catch threads started since (they inherit their creator's niceness).
    Returns how many threads it lowered (Linux; 0 elsewhere)."""
    if not hasattr(os, "setpriority"):
        return 0
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, keep) + increment)
    except OSError:
        return 0
    lowered = 0
    for tid in thread_ids() - {keep}:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
                lowered += 1
        except OSError as exc:  # ended meanwhile, or not allowed: leave it
            logger.debug("cannot lower the priority of thread %s: %s", tid, exc)
    return lowered


def thread_ids() -> set[int]:
    """Native ids of this process's threads (Linux; empty elsewhere), e.g. to find the ones a
    native library started."""
    try:
        return {int(name) for name in os.listdir("/proc/self/task")}
    except OSError:
        return set()

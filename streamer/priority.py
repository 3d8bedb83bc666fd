"""Thread priorities: batch I/O threads yield the CPU to the inference thread.

On a machine where inference already keeps every core busy, decode and encode threads running
at the same priority preempt XNNPACK's workers, whose thread pool then waits at every barrier
for the preempted one: measured here, overlapped conversion ran *slower* than a one-thread
loop. Lowering the I/O threads' priority lets them use only the cycles inference leaves idle;
their bounded queues keep them from falling behind for long.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["BACKGROUND_NICENESS", "run_in_background_priority"]

logger = logging.getLogger(__name__)

#: niceness added to batch I/O threads (threads they create, such as FFmpeg's, inherit it)
BACKGROUND_NICENESS = 10


def run_in_background_priority(increment: int = BACKGROUND_NICENESS) -> None:
    """Lower the calling thread's CPU priority by ``increment`` (Linux: per thread; else no-op)."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
    except OSError as exc:  # not allowed or not supported: run at normal priority
        logger.debug("cannot lower the priority of thread %s: %s", tid, exc)

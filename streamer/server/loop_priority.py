"""The event loop's thread ahead of the server's work threads in the CPU scheduler's queue.

The loop answers the API and moves every session's packets; everything else in the process
(inference and its XNNPACK pool, aiortc's decoder threads, the default executor's encoders,
colour conversions and image decodes) is bulk work that can wait a few milliseconds. Linux
niceness is per thread and a new thread inherits its creator's, so the threads are lowered
where they are found: every :data:`SWEEP_SECONDS` the server puts every thread of the process
but the loop's ``work_niceness`` nicer than the loop (:func:`~streamer.priority.lower_other_threads`).

A lower-priority thread that holds the GIL and is preempted makes the loop wait for it (a
priority inversion): so the cyclic garbage collector, which holds the GIL for all of a
collection and runs in whichever thread trips its counters (measured: 186 ms in an aiortc
decoder thread), runs on the loop's thread instead, every :data:`SWEEP_SECONDS`, with the
objects that exist at start frozen out of it (``gc.freeze``) so that a full collection walks
only what came later.

.. code-block:: python

    app.cleanup_ctx.append(keep_loop_ahead(10))
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..priority import lower_other_threads
from ..tasks import spawn_supervised

__all__ = ["SWEEP_SECONDS", "collect_garbage_due", "keep_loop_ahead"]

logger = logging.getLogger(__name__)

#: how often threads started since the last sweep are lowered (they run at the loop's
#: priority until then)
SWEEP_SECONDS = 0.5


def collect_garbage_due() -> int | None:
    """Run the collection the interpreter's thresholds call for (the oldest generation whose
    count is over its threshold), as its automatic collector would; returns the generation."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if thresholds[generation] and counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return generation
    return None


async def _sweep(increment: int) -> None:
    loop_thread = threading.get_native_id()
    while True:
        lower_other_threads(loop_thread, increment)
        collect_garbage_due()
        await asyncio.sleep(SWEEP_SECONDS)


def keep_loop_ahead(increment: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context that keeps every other thread ``increment`` nicer than the
    loop's while the app runs (``increment`` 0: does nothing)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if increment <= 0:
            yield
            return

        automatic = gc.isenabled()
        gc.freeze()
        gc.disable()

        def failed(name: str, error: BaseException) -> None:  # the server still works, unprioritised
            if automatic:
                gc.enable()
            logger.error("%s stopped (%s): work threads now share the CPU with the event loop", name, error)

        task: asyncio.Task[Any] = spawn_supervised(_sweep(increment), "loop-priority", failed)
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            gc.unfreeze()
            if automatic:
                gc.enable()

    return context

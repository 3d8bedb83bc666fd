"""The event loop's thread ahead of the server's work threads in the CPU scheduler's queue.

The loop answers the API and moves every session's packets; everything else in the process
(inference and its XNNPACK pool, aiortc's decoder threads, the default executor's encoders,
colour conversions and image decodes) is bulk work that can wait a few milliseconds. Linux
niceness is per thread and a new thread inherits its creator's, so the threads are lowered
where they are found: every :data:`SWEEP_SECONDS` the server puts every thread of the process
but the loop's ``work_niceness`` nicer than the loop (:func:`~streamer.priority.lower_other_threads`).

.. code-block:: python

    app.cleanup_ctx.append(keep_loop_ahead(10))
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..priority import lower_other_threads
from ..tasks import spawn_supervised

__all__ = ["SWEEP_SECONDS", "keep_loop_ahead"]

logger = logging.getLogger(__name__)

#: how often threads started since the last sweep are lowered (they run at the loop's
#: priority until then)
SWEEP_SECONDS = 0.5


async def _sweep(increment: int) -> None:
    loop_thread = threading.get_native_id()
    while True:
        lower_other_threads(loop_thread, increment)
        await asyncio.sleep(SWEEP_SECONDS)


def keep_loop_ahead(increment: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context that keeps every other thread ``increment`` nicer than the
    loop's while the app runs (``increment`` 0: does nothing)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if increment <= 0:
            yield
            return

        def failed(name: str, error: BaseException) -> None:  # the server still works, unprioritised
            logger.error("%s stopped (%s): work threads now share the CPU with the event loop", name, error)

        task: asyncio.Task[Any] = spawn_supervised(_sweep(increment), "loop-priority", failed)
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return context

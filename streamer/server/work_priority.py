"""The server's work threads yield the CPU to its event loop.

Every request, RTP packet and data-channel message of every session is handled on the one
event-loop thread; the heavy work runs in other threads: inference (and XNNPACK's pool), the
loop's default executor (frame colour conversions, aiortc's encoders, uploaded-image decodes:
everything ``asyncio.to_thread`` and ``run_in_executor(None, ...)`` run) and aiortc's decoder
threads (one per received track). On a machine whose cores these threads keep busy, the loop
thread used to wait for a core most of the time it was late (measured: 60 % of its stalls'
time runnable but not running, 29 % waiting for the GIL, 10 % running; see
``benchmarks/serve_responsiveness.py``). At a higher niceness (``work_niceness`` above the
loop's own) these threads use only the cycles the loop leaves: Linux sets priority per
thread, and lowering one's own threads needs no privilege.

* the default executor is replaced by one whose threads lower themselves as they start;
* the inference thread lowers itself and its models' threads (:meth:`Engine.yield_cpu`);
* aiortc starts a decoder thread per received track once the connection is up, on the loop
  thread (so at the loop's priority): :class:`WorkPriority` lowers them within
  :data:`SWEEP_SECONDS`.

Elsewhere (no per-thread priorities) this does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ..engine import Engine
from ..priority import niceness_of, yield_cpu
from ..tasks import spawn_supervised

__all__ = ["DECODER_THREAD_SUFFIX", "SWEEP_SECONDS", "WorkPriority"]

logger = logging.getLogger(__name__)

#: aiortc names its receivers' decoder threads ``video-decoder`` / ``audio-decoder``
DECODER_THREAD_SUFFIX = "-decoder"
#: how often new decoder threads are looked for
SWEEP_SECONDS = 1.0


def _lower_self(niceness: int) -> None:
    yield_cpu([threading.get_native_id()], niceness)


class WorkPriority:
    """Puts the server's work threads ``increment`` nicer than the event loop (0: leaves them).

    :param engine: the engine whose inference thread yields too.
    :param increment: niceness added to the loop thread's own, for the work threads.
    """

    def __init__(self, engine: Engine, increment: int) -> None:
        self.engine = engine
        self.increment = increment
        self.niceness: int | None = None  #: the work threads' niceness, once started
        self.executor: ThreadPoolExecutor | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """On the loop thread: lower the inference thread, install the default executor and
        start looking for decoder threads."""
        if self.increment <= 0 or not hasattr(threading, "get_native_id"):
            return
        loop = asyncio.get_running_loop()
        self.niceness = min(19, niceness_of() + self.increment)
        self.executor = ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4),
                                           thread_name_prefix="streamer-work",
                                           initializer=_lower_self, initargs=(self.niceness,))
        loop.set_default_executor(self.executor)
        await self.engine.yield_cpu(self.niceness)
        self._sweeper = spawn_supervised(self._sweep(), "work-priority", self._sweep_failed)

    def lower_decoders(self) -> int:
        """Lower aiortc's decoder threads that are not lowered yet; returns how many there are."""
        if self.niceness is None:
            return 0
        tids = [t.native_id for t in threading.enumerate()
                if t.name.endswith(DECODER_THREAD_SUFFIX) and t.native_id is not None]
        yield_cpu(tids, self.niceness)
        return len(tids)

    async def _sweep(self) -> None:
        while True:
            self.lower_decoders()
            await asyncio.sleep(SWEEP_SECONDS)

    def _sweep_failed(self, name: str, error: BaseException) -> None:
        # decoders started from now on keep the loop's priority; the server still works
        logger.warning("decoder threads are no longer lowered: %s", error)

    async def close(self) -> None:
        """Stop looking for decoder threads. The executor stays the loop's default (the loop
        shuts it down when it closes: work may still be running in it)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

"""Bounded buffers between threads, and the one bridge between those threads and asyncio.

Every queue in streamer is a :class:`FrameBuffer`: it has a capacity, and a
:class:`~streamer.config.QueuePolicy` decides what happens when it is full (the producer waits,
or the oldest item is dropped and counted). Threads use :meth:`FrameBuffer.put` /
:meth:`FrameBuffer.get`; coroutines use :meth:`FrameBuffer.put_async` /
:meth:`FrameBuffer.get_async`, which wait without blocking the event loop. The only cross-thread
call into a loop is ``loop.call_soon_threadsafe`` in :func:`_wake_future`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .config import QueuePolicy

__all__ = ["BufferClosed", "FrameBuffer"]

T = TypeVar("T")


class BufferClosed(Exception):
    """Raised by ``get`` on a closed, drained buffer and by ``put`` on a closed buffer."""


def _wake_future(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
    """Resolve ``fut`` on its own loop; safe to call from any thread, and after the loop closed."""

    def _set() -> None:
        if not fut.done():
            fut.set_result(None)

    try:
        loop.call_soon_threadsafe(_set)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


class FrameBuffer(Generic[T]):
    """A bounded FIFO shared by threads and coroutines.

    :param capacity: maximum number of items held.
    :param policy: ``LOSSLESS``: a full buffer makes the producer wait. ``LATEST``: a full buffer
        drops its oldest item (passed to ``on_drop``) so the new one always fits.
    :param on_drop: called, outside the lock, with every item the ``LATEST`` policy discards.

    .. code-block:: python

        buf = FrameBuffer[int](capacity=2, policy=QueuePolicy.LATEST)
        for i in range(5):
            buf.put(i)
        assert (buf.get(), buf.get(), buf.dropped) == (3, 4, 3)
    """

    def __init__(
        self,
        capacity: int,
        policy: QueuePolicy = QueuePolicy.LOSSLESS,
        on_drop: Callable[[T], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.policy = QueuePolicy(policy)
        self._on_drop = on_drop
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._listeners: list[Callable[[], None]] = []
        self.put_count = 0
        self.get_count = 0
        self.dropped = 0

    # -- state ----------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (from the putting thread) after every successful put."""
        with self._cond:
            self._listeners.append(callback)

    # -- producer side --------------------------------------------------------------------
    def put_nowait(self, item: T) -> bool:
        """Add ``item`` without waiting; return False if a ``LOSSLESS`` buffer is full."""
        with self._cond:
            if self._closed:
                raise BufferClosed("buffer is closed")
            dropped: list[T] = []
            if len(self._items) >= self.capacity:
                if self.policy is QueuePolicy.LOSSLESS:
                    return False
                while len(self._items) >= self.capacity:
                    dropped.append(self._items.popleft())
                self.dropped += len(dropped)
            self._items.append(item)
            self.put_count += 1
            self._notify_locked()
            listeners = list(self._listeners)
        for old in dropped:
            if self._on_drop is not None:
                self._on_drop(old)
        for listener in listeners:
            listener()
        return True

    def put(self, item: T, timeout: float | None = None) -> None:
        """Add ``item``, waiting for room if the policy is ``LOSSLESS``.

        :raises TimeoutError: no room within ``timeout`` seconds.
        :raises BufferClosed: the buffer was closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.put_nowait(item):
            with self._cond:
                if self._closed:
                    raise BufferClosed("buffer is closed")
                if len(self._items) < self.capacity:
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("buffer stayed full")
                self._cond.wait(remaining)

    async def put_async(self, item: T) -> None:
        """Like :meth:`put`, but waits without blocking the event loop."""
        while not self.put_nowait(item):
            await self._changed(lambda: len(self._items) < self.capacity)

    # -- consumer side --------------------------------------------------------------------
    def get_nowait(self) -> T:
        """Remove and return the oldest item.

        :raises IndexError: the buffer is empty but open.
        :raises BufferClosed: the buffer is closed and empty.
        """
        with self._cond:
            if self._items:
                item = self._items.popleft()
                self.get_count += 1
                self._notify_locked()
                return item
            if self._closed:
                raise BufferClosed("buffer is closed")
            raise IndexError("buffer is empty")

    def get(self, timeout: float | None = None) -> T:
        """Remove and return the oldest item, waiting for one.

        :raises TimeoutError: nothing arrived within ``timeout`` seconds.
        :raises BufferClosed: the buffer is closed and empty.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("nothing arrived in time")
                self._cond.wait(remaining)
            return self.get_nowait()

    async def get_async(self) -> T:
        """Like :meth:`get`, but waits without blocking the event loop."""
        while True:
            try:
                return self.get_nowait()
            except IndexError:
                await self._changed(lambda: bool(self._items) or self._closed)

    def peek(self) -> T | None:
        """The oldest item without removing it, or None if empty."""
        with self._cond:
            return self._items[0] if self._items else None

    def drain(self) -> list[T]:
        """Remove and return everything queued, without counting it as dropped."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._notify_locked()
        return items

    def close(self) -> None:
        """Refuse further puts; consumers drain what is left, then get :class:`BufferClosed`."""
        with self._cond:
            self._closed = True
            self._notify_locked()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    # -- internals ------------------------------------------------------------------------
    def _notify_locked(self) -> None:
        self._cond.notify_all()
        waiters, self._async_waiters = self._async_waiters, []
        for loop, fut in waiters:
            _wake_future(loop, fut)

    async def _changed(self, ready: Callable[[], bool]) -> None:
        """Wait until the buffer changes, unless ``ready()`` already holds (checked under lock)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if ready() or self._closed:
                return
            self._async_waiters.append((loop, fut))
        await fut

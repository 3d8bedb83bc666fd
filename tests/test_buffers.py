"""FrameBuffer: capacity, the two policies, closing, and the asyncio bridge."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from streamer.buffers import BufferClosed, FrameBuffer
from streamer.config import QueuePolicy


def test_latest_policy_when_full_drops_oldest_and_counts() -> None:
    # given
    dropped: list[int] = []
    buf = FrameBuffer[int](2, QueuePolicy.LATEST, on_drop=dropped.append)
    # when
    for i in range(5):
        assert buf.put_nowait(i)
    # then
    assert len(buf) == 2
    assert (buf.get(), buf.get()) == (3, 4)
    assert dropped == [0, 1, 2] and buf.dropped == 3


def test_lossless_policy_when_full_refuses_without_dropping() -> None:
    buf = FrameBuffer[int](1, QueuePolicy.LOSSLESS)
    assert buf.put_nowait(1)
    assert not buf.put_nowait(2)
    with pytest.raises(TimeoutError):
        buf.put(2, timeout=0.05)
    assert buf.dropped == 0 and buf.get() == 1


def test_lossless_put_when_full_waits_for_consumer_thread() -> None:
    buf = FrameBuffer[int](1)
    buf.put(0)
    got: list[int] = []

    def consume() -> None:
        for _ in range(3):
            got.append(buf.get(timeout=5))

    t = threading.Thread(target=consume)
    t.start()
    buf.put(1, timeout=5)
    buf.put(2, timeout=5)
    t.join(5)
    assert got == [0, 1, 2]


def test_close_when_items_left_drains_then_raises() -> None:
    buf = FrameBuffer[int](3)
    buf.put(1)
    buf.close()
    with pytest.raises(BufferClosed):
        buf.put(2)
    assert buf.get() == 1
    with pytest.raises(BufferClosed):
        buf.get(timeout=1)


def test_close_wakes_a_blocked_getter() -> None:
    buf = FrameBuffer[int](1)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            buf.get(timeout=10)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)
    buf.close()
    t.join(5)
    assert not t.is_alive() and isinstance(errors[0], BufferClosed)


def test_async_get_when_thread_puts_later_does_not_block_loop() -> None:
    buf = FrameBuffer[int](1)

    async def main() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        tick_task = asyncio.create_task(ticker())
        threading.Timer(0.1, buf.put, args=(7,)).start()
        value = await asyncio.wait_for(buf.get_async(), 5)
        tick_task.cancel()
        return value, ticks

    value, ticks = asyncio.run(main())
    assert value == 7
    assert ticks > 3  # the loop kept running while waiting


def test_async_put_when_full_waits_until_thread_consumes() -> None:
    buf = FrameBuffer[int](1)
    buf.put(0)

    async def main() -> None:
        threading.Timer(0.05, buf.get).start()
        await asyncio.wait_for(buf.put_async(1), 5)

    asyncio.run(main())
    assert buf.get() == 1


def test_async_get_when_closed_raises() -> None:
    buf = FrameBuffer[int](1)

    async def main() -> None:
        threading.Timer(0.05, buf.close).start()
        await asyncio.wait_for(buf.get_async(), 5)

    with pytest.raises(BufferClosed):
        asyncio.run(main())

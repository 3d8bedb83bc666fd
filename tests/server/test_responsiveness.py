"""The event loop keeps running while CPU-heavy work happens (a 16-megapixel style image is
decoded, frames are converted): other requests and sessions are not frozen."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from aiohttp import web

from streamer.config import ProcessingSize
from streamer.server import ServerSettings
from streamer.server.loop_priority import SWEEP_SECONDS, keep_loop_ahead

from .harness import Caller, checker, run, running_server, smooth_png, started_engine


def test_upload_when_16_megapixel_image_then_event_loop_keeps_running(model: str) -> None:
    data = smooth_png(3999)

    async def scenario() -> dict:
        settings = ServerSettings(port=0, size=ProcessingSize(128), max_upload_pixels=16_000_000)
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            caller = Caller.sending(lambda i: checker(120, 160))
            await caller.connect(server)
            await caller.wait_frames(2)
            stalls: list[float] = []

            async def watch() -> None:  # how late the loop runs a 10 ms timer
                loop = asyncio.get_running_loop()
                while True:
                    due = loop.time() + 0.01
                    await asyncio.sleep(0.01)
                    stalls.append(loop.time() - due)

            watcher = asyncio.ensure_future(watch())
            started = time.monotonic()
            status, body = await server.call("POST", f"/api/sessions/{caller.session_id}/styles?apply=0",
                                             data=data, headers={"Content-Type": "image/png"})
            took = time.monotonic() - started
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await caller.close()
            return {"status": status, "body": body, "took": took, "worst_stall": max(stalls)}

    r = run(scenario())
    print(f"\n3999x3999 upload answered in {r['took']:.2f} s; the loop's longest stall meanwhile "
          f"{r['worst_stall'] * 1000:.0f} ms")
    assert r["status"] == 201, r["body"]
    # The decode and the predictor run elsewhere: the loop never stalls for most of the upload
    # (it stalled for all of it, 6.7 s, when the image was decoded on the loop).
    assert r["worst_stall"] < 0.25 * r["took"], r


def _niceness_in_proc(tid: int) -> int | None:
    """A thread's niceness as the kernel reports it (``/proc/self/task/TID/stat``, field 19);
    None if the thread has ended."""
    try:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return int(fields[16])


def _thread_kind(tid: int, loop_thread: int, names: dict[int | None, str]) -> str:
    name = names.get(tid)
    return ("loop" if tid == loop_thread else "native" if name is None
            else "inference" if name.startswith("streamer-inference")
            else "decoder" if name.endswith("-decoder")
            else "executor" if name.startswith("asyncio_") else "other")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux-only")
@pytest.mark.parametrize("work_niceness", [10, 0])
def test_server_threads_when_session_streams_then_work_runs_nicer_than_event_loop(
        model: str, work_niceness: int) -> None:
    older = {int(entry) for entry in os.listdir("/proc/self/task")}  # earlier tests' threads

    async def scenario() -> tuple[int | None, dict[str, set[int]]]:
        settings = ServerSettings(port=0, size=ProcessingSize(128), work_niceness=work_niceness)
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            caller = Caller.sending(lambda i: checker(120, 160), keep_images=False)  # nothing on the loop
            await caller.connect(server)
            await caller.wait_frames(3)
            await asyncio.sleep(2 * SWEEP_SECONDS + 0.2)  # threads started meanwhile are found
            loop_thread = threading.get_native_id()
            names = {t.native_id: t.name for t in threading.enumerate()}
            kinds: dict[str, set[int]] = {}
            for tid in {int(entry) for entry in os.listdir("/proc/self/task")} - older:
                nice = _niceness_in_proc(tid)
                if nice is not None:
                    kinds.setdefault(_thread_kind(tid, loop_thread, names), set()).add(nice)
            await caller.close()
            return _niceness_in_proc(loop_thread), kinds

    loop_nice, kinds = run(scenario())
    print(f"\nniceness: event loop {loop_nice}, the server's other threads {kinds}")
    # real threads of every kind: the engine's, XNNPACK's pool, aiortc's decoder, the executor's
    assert {"inference", "native", "decoder", "executor"} <= kinds.keys(), kinds
    assert loop_nice == os.getpriority(os.PRIO_PROCESS, 0)  # the loop keeps the process's priority
    work = set().union(*(kinds[k] for k in ("inference", "native", "decoder", "executor")))
    assert work == {min(19, loop_nice + work_niceness)}, kinds


class _Node:
    """A cyclic garbage object (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


def test_garbage_when_server_runs_then_collected_on_the_event_loop_thread() -> None:
    # A collection holds the GIL throughout; in a lower-priority thread that is preempted, the
    # loop would wait for all of it. Cycles made in a worker thread are collected, by the loop.
    async def scenario() -> tuple[int, set[int], int]:
        app = web.Application()
        app.cleanup_ctx.append(keep_loop_ahead(10))
        runner = web.AppRunner(app)
        await runner.setup()
        collectors: set[int] = set()

        def record(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collectors.add(threading.get_native_id())

        def make_cycles() -> list[weakref.ref[_Node]]:
            return [weakref.ref(_Node()) for _ in range(20_000)]

        gc.callbacks.append(record)
        try:
            refs = await asyncio.to_thread(make_cycles)
            for _ in range(50):
                if all(ref() is None for ref in refs):
                    break
                await asyncio.sleep(0.1)
        finally:
            gc.callbacks.remove(record)
            await runner.cleanup()
        return threading.get_native_id(), collectors, sum(ref() is not None for ref in refs)

    loop_thread, collectors, alive = run(scenario())
    assert alive <= gc.get_threshold()[0]  # collected (but what came after the last collection)
    assert collectors == {loop_thread}, collectors
    assert gc.isenabled()  # given back as it was

"""Load for `streamer serve` benchmarks: callers, an API prober, 16-megapixel uploads, the barrage.

Each runs in a process of its own so that its work does not count as the server's:

* ``python benchmarks/serve_load.py callers URL ...``: N aiortc callers (a moving 640x480
  picture at 30 fps), connecting, streaming and leaving in cycles; prints ``SESSIONS id...``
  whenever a set is connected, ``LEFT`` when it has hung up, and ``RESULT {json}`` at the end.
* ``python benchmarks/serve_load.py probe URL ...``: times ``GET /api/info`` every ``--period``
  seconds (blocking sockets in a thread of its own), uploads unique 16-megapixel style images
  back to back, and sends the hostile-request barrage of ``tests/server/hostile.py`` in rounds;
  reads ``SESSION id`` (where to upload), ``ENDED`` and ``STOP`` lines on stdin; prints
  ``RESULT {json}``.

All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

__all__ = ["Child", "percentile", "spawn", "unique_png"]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank; NaN when empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- the parent's side ------------------------------------------------------------------------
@dataclass
class Child:
    """A load process: its lines as they come, and its final ``RESULT``."""

    process: asyncio.subprocess.Process
    lines: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    result: dict[str, Any] | None = None
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("RESULT "):
                self.result = json.loads(line.removeprefix("RESULT "))
            else:
                await self.lines.put(line)

    def tell(self, line: str) -> None:
        """Write one line to the child's stdin."""
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.process.stdin.write(line.encode() + b"\n")

    async def finish(self, limit: float = 120.0) -> dict[str, Any]:
        """Say STOP, wait for the child to exit, return its RESULT."""
        self.tell("STOP")
        try:
            await asyncio.wait_for(self.process.wait(), limit)
            if self._reader is not None:
                await asyncio.wait_for(self._reader, 10)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        if self.result is None:
            raise RuntimeError(f"load process {self.process.pid} ended without a result")
        return self.result


#: CPU priorities a load process can run at: niceness added to this process's niceness at
#: import, or SCHED_IDLE
PRIORITIES = {"normal": 0, "background": 10, "nice": 19, "idle": None}
BASE_NICENESS = os.getpriority(os.PRIO_PROCESS, 0)


def _at_priority(priority: str) -> None:
    """In a new child, before it runs anything (every thread it starts inherits it); the
    niceness is set, not added: the thread that starts the child may have been raised."""
    added = PRIORITIES[priority]
    os.setpriority(os.PRIO_PROCESS, 0, min(19, BASE_NICENESS + (added or 0)))
    if added is None:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


@contextlib.asynccontextmanager
async def spawn(*args: str, priority: str = "normal") -> AsyncIterator[Child]:
    """Run ``serve_load.py ARGS`` as a child process at CPU ``priority`` (one of
    :data:`PRIORITIES`; killed if still running after the block)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        limit=16 * 1024 * 1024, preexec_fn=lambda: _at_priority(priority))
    child = Child(process)
    child._reader = asyncio.ensure_future(child._read())
    try:
        yield child
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        child._reader.cancel()


# -- callers ----------------------------------------------------------------------------------
def _stdin_lines() -> asyncio.Queue[str]:
    """Lines from stdin, read by a thread (stdin is a pipe from the parent)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, "STOP")

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


async def callers_main(args: argparse.Namespace) -> dict[str, Any]:
    """Sets of ``args.sessions`` callers: connect, stream ``args.cycle`` seconds, leave; until STOP."""
    import aiohttp

    from tests.media import pattern_frame
    from tests.server.harness import Caller, Server

    frames = [pattern_frame(i, args.height, args.width) for i in range(30)]
    commands = _stdin_lines()
    fps: list[float] = []
    sent_fps: list[float] = []
    cycles = failures = 0
    async with aiohttp.ClientSession() as http:
        server = Server(args.url, None, http, args.token)  # type: ignore[arg-type]
        while commands.empty():
            callers = [Caller.sending(lambda i: frames[i % 30], fps=args.fps, limit=10**9, cycle=30,
                                      keep_images=False) for _ in range(args.sessions)]
            try:
                for caller in callers:
                    await caller.connect(server)
                for caller in callers:
                    await caller.wait_frames(3, limit=60)
            except (AssertionError, aiohttp.ClientError) as exc:
                failures += 1
                print(f"cycle {cycles}: {exc}", file=sys.stderr, flush=True)
                await asyncio.gather(*(c.close() for c in callers), return_exceptions=True)
                await asyncio.sleep(1.0)
                continue
            print("SESSIONS " + " ".join(c.session_id or "" for c in callers), flush=True)
            start = [c.received for c in callers]
            sent_before = [c.track.sent for c in callers]
            t0 = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_wait_stop(commands), args.cycle)
            elapsed = time.monotonic() - t0
            fps += [(c.received - s) / elapsed for c, s in zip(callers, start, strict=True)]
            sent_fps += [(c.track.sent - s) / elapsed for c, s in zip(callers, sent_before, strict=True)]
            await asyncio.gather(*(c.close() for c in callers), return_exceptions=True)
            print("LEFT", flush=True)
            cycles += 1
            if args.wait_go and await commands.get() != "GO":  # the parent has looked at the server
                break
    return {"cycles": cycles, "failures": failures, "fps": fps, "sent_fps": sent_fps}


async def _wait_stop(commands: asyncio.Queue[str]) -> None:
    while await commands.get() != "STOP":
        pass
    await commands.put("STOP")  # leave it for the outer loop


# -- the prober -------------------------------------------------------------------------------
def _style_image(megapixels: float) -> bytes:
    """A PNG of ``megapixels`` (small in bytes, as costly to decode as any of its size)."""
    from tests.server.harness import smooth_png

    return smooth_png(int((megapixels * 1e6) ** 0.5))


def unique_png(png: bytes, index: int) -> bytes:
    """``png`` with a text chunk naming ``index``: the same pixels, a different file (and hash),
    so the server decodes it again instead of answering from its embedding cache."""
    import struct
    import zlib

    data = b"Comment\0upload " + str(index).encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def _waited_for_a_core() -> int:
    """ns the calling thread has spent runnable but waiting for a core (Linux; else 0): the
    prober's own waits, which a remote client would not have, are then told apart."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


class _Http:
    """A blocking HTTP/1.1 client for one host (a fresh connection per request: no state)."""

    def __init__(self, url: str, token: str | None) -> None:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        self.host, self.port = host, int(port)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None, timeout: float = 60.0) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = dict(self.headers)
            if content_type:
                headers["Content-Type"] = content_type
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def probe_main(args: argparse.Namespace) -> dict[str, Any]:
    """Probe /api/info, upload, and send the barrage until STOP on stdin."""
    client = _Http(args.url, args.token)
    stop = threading.Event()
    session: list[str] = []
    api_ms: list[float] = []
    api_wait_ms: list[float] = []  #: of each request's time, how long this thread waited for a core
    api_errors: list[str] = []
    uploads: dict[str, Any] = {"ms": [], "statuses": {}}
    barrage: dict[str, Any] = {"rounds": 0, "wrong": []}

    def read_commands() -> None:
        for line in sys.stdin:
            if line.startswith("SESSION "):
                session[:] = [line.split()[1]]
            elif line.strip() == "ENDED":
                session.clear()
            elif line.strip() == "STOP":
                break
        stop.set()

    def probe_api() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            waited_before = _waited_for_a_core()
            try:
                status, _ = client.request("GET", "/api/info", timeout=10)
                if status != 200:
                    api_errors.append(f"status {status}")
            except OSError as exc:
                api_errors.append(repr(exc))
            api_ms.append(1000 * (time.perf_counter() - started))
            api_wait_ms.append((_waited_for_a_core() - waited_before) / 1e6)
            stop.wait(args.period)

    def upload() -> None:
        base = _style_image(args.upload_megapixels)
        uploads["bytes"] = len(base)
        index = 0
        while not stop.is_set():
            if not session:
                stop.wait(0.2)
                continue
            data = unique_png(base, index)
            index += 1
            started = time.perf_counter()
            try:
                status, _ = client.request("POST", f"/api/sessions/{session[0]}/styles?apply=0", data,
                                           "image/png", timeout=120)
            except OSError as exc:
                status = type(exc).__name__  # type: ignore[assignment]
            uploads["ms"].append(1000 * (time.perf_counter() - started))
            uploads["statuses"][str(status)] = uploads["statuses"].get(str(status), 0) + 1

    def hostile() -> None:
        from tests.server.hostile import probes, send

        small = _style_image(0.05)

        async def rounds() -> None:
            while not stop.is_set():
                if not session:
                    await asyncio.sleep(0.2)
                    continue
                target = session[0]
                barrage_probes = probes(f"127.0.0.1:{client.port}", args.token, f"/api/sessions/{session[0]}",
                                        args.max_upload_bytes, args.header_timeout, args.body_timeout,
                                        unique_png(small, barrage["rounds"]))
                outcomes = await asyncio.gather(*(send(client.port, p) for p in barrage_probes))
                for probe, outcome in zip(barrage_probes, outcomes, strict=True):
                    # the session may have ended meanwhile: then its routes answer 404 (and a
                    # large body still being sent may meet a closed connection)
                    ended = (outcome.status in (404, None) and target.encode() in probe.pieces[0]
                             and (not session or session[0] != target))
                    if outcome.status != probe.status and not ended:
                        barrage["wrong"].append([probe.name, outcome.status])
                barrage["rounds"] += 1
                await asyncio.sleep(args.barrage_pause)

        asyncio.run(rounds())

    workers = [threading.Thread(target=read_commands, daemon=True), threading.Thread(target=probe_api)]
    if args.upload_megapixels > 0:
        workers.append(threading.Thread(target=upload))
    if args.barrage:
        workers.append(threading.Thread(target=hostile))
    for worker in workers:
        worker.start()
    for worker in workers[1:]:
        worker.join()
    return {"api_ms": api_ms, "api_wait_ms": api_wait_ms, "api_errors": api_errors[:20], "uploads": uploads,
            "barrage": barrage}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options of the load processes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    callers = sub.add_parser("callers")
    callers.add_argument("url")
    callers.add_argument("--token")
    callers.add_argument("--sessions", type=int, default=4)
    callers.add_argument("--cycle", type=float, default=1e9, help="seconds per connect-stream-leave cycle")
    callers.add_argument("--wait-go", action="store_true", help="after each cycle, wait for GO on stdin")
    callers.add_argument("--fps", type=float, default=30.0)
    callers.add_argument("--width", type=int, default=640)
    callers.add_argument("--height", type=int, default=480)
    probe = sub.add_parser("probe")
    probe.add_argument("url")
    probe.add_argument("--token")
    probe.add_argument("--period", type=float, default=0.05)
    probe.add_argument("--upload-megapixels", type=float, default=0.0)
    probe.add_argument("--barrage", action="store_true")
    probe.add_argument("--barrage-pause", type=float, default=5.0)
    probe.add_argument("--max-upload-bytes", type=int, default=8 * 1024 * 1024)
    probe.add_argument("--header-timeout", type=float, default=10.0)
    probe.add_argument("--body-timeout", type=float, default=10.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    options = parse_args()
    if options.role == "callers":
        outcome = asyncio.run(callers_main(options))
    else:
        outcome = probe_main(options)
    print("RESULT " + json.dumps(outcome), flush=True)

"""Does `streamer serve` stay responsive while it works? /api/info latency under load.

The server runs in this process on 127.0.0.1; ``--sessions`` aiortc callers stream a moving
640x480 picture at 30 fps from a second process; a third process times ``GET /api/info`` every
50 ms and uploads unique 16-megapixel style images (PNG) back to back to one session (each is
decoded and embedded: the cache cannot answer). Target: p99 of /api/info <= 50 ms.

Also measured in the server: how late the event loop runs a 10 ms timer (its lag: anything
that blocks the loop shows here), and the frames per second each session got back.

Where the loop thread was while it was late (Linux): for every lag sample over
``STALL_MS``, the loop thread's scheduler counters (``/proc/thread-self/schedstat``) split
the stall into time it ran, time it was runnable but waited for a core, and the rest (blocked:
waiting for the GIL, or idle in ``epoll``, which the timer's own period counts as).

With ``--compare`` it first measures with that work run on the event loop, as the server did
before (``asyncio.to_thread`` replaced by a direct call), then as it is now: a ratio from one run.
``--inference MODE`` (repeatable, a row each) runs inference on the engine's thread
(``thread``, the default) or in a process of its own at CPU priority ``idle`` (SCHED_IDLE),
``nice`` (19) or ``normal`` (``streamer serve --inference-process``).
``--threads`` sets inference's CPU threads, ``--switch-interval`` the interpreter's GIL switch
interval (the loop thread waits up to that long for the GIL whenever it gave it up).

    python benchmarks/serve_responsiveness.py --model fast --seconds 60 --compare
    python benchmarks/serve_responsiveness.py --seconds 30 --threads 1
    python benchmarks/serve_responsiveness.py --seconds 25 --inference thread --inference idle
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import percentile, spawn  # noqa: E402

from streamer.bench import machine_description  # noqa: E402
from streamer.config import ProcessingSize  # noqa: E402
from streamer.engine import Engine  # noqa: E402
from streamer.inference.backends import BackendOptions  # noqa: E402
from streamer.inference.process import ProcessPriority  # noqa: E402
from streamer.server import ServerSettings  # noqa: E402
from tests.server.harness import running_server  # noqa: E402

TARGET_P99_MS = 50.0
#: lag samples over this (ms) count as stalls in the breakdown
STALL_MS = 30.0
SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _schedstat() -> tuple[int, int] | None:
    """(ns on a core, ns runnable waiting for one) of the calling thread, where Linux says."""
    try:
        ran, waited = SCHEDSTAT.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return int(ran), int(waited)


class LoopLag:
    """How late the running loop wakes a ``period`` timer (ms), sampled until stopped, and
    where the loop thread was during the stalls (ms in all: ran, waited for a core, blocked)."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: list[float] = []
        self.stall_ms = {"ran": 0.0, "runnable": 0.0, "blocked": 0.0}
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = _schedstat()
            due = loop.time() + self.period
            await asyncio.sleep(self.period)
            lag = 1000 * max(0.0, loop.time() - due)
            self.samples.append(lag)
            after = _schedstat()
            if lag > STALL_MS and before is not None and after is not None:
                ran, runnable = ((b - a) / 1e6 for a, b in zip(before, after, strict=True))
                self.stall_ms["ran"] += ran
                self.stall_ms["runnable"] += runnable
                self.stall_ms["blocked"] += max(0.0, 1000 * self.period + lag - ran - runnable)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@contextlib.contextmanager
def work_on_the_loop() -> Iterator[None]:
    """Run what the server hands to ``asyncio.to_thread`` (image decode, frame colour
    conversions) on the event loop instead, as the server did before: the comparison row."""
    original = asyncio.to_thread

    async def inline(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    asyncio.to_thread = inline  # type: ignore[assignment]
    try:
        yield
    finally:
        asyncio.to_thread = original


async def measure(args: argparse.Namespace, inference: str = "thread") -> dict[str, Any]:
    """One run: callers stream, the prober probes and uploads, for ``args.seconds``; inference
    on the engine's thread (``thread``) or in a process of its own at that priority."""
    process = None if inference == "thread" else ProcessPriority(inference)
    engine = Engine.create(args.model, BackendOptions(backend="cpu", threads=args.threads), max_batch=4,
                           use_disk_cache=False, inference_process=process)
    report = await engine.start()
    settings = ServerSettings(port=0, size=ProcessingSize.parse(args.size), max_sessions=args.sessions,
                              max_upload_bytes=64 * 1024 * 1024, max_upload_pixels=16_000_000)
    try:
        async with running_server(engine, settings) as server, \
                spawn("callers", server.url, "--sessions", str(args.sessions)) as callers:
            line = await asyncio.wait_for(callers.lines.get(), 180)
            if not line.startswith("SESSIONS"):
                raise RuntimeError(f"the callers did not connect: {line!r}")
            upload_to = line.split()[1]
            lag = LoopLag()
            async with spawn("probe", server.url, "--upload-megapixels", str(args.megapixels)) as prober:
                await asyncio.sleep(2.0)  # the prober makes its image first
                lag.start()
                prober.tell(f"SESSION {upload_to}")
                await asyncio.sleep(args.seconds)
                await lag.stop()
                probe = await prober.finish()
            fps = (await callers.finish())["fps"]
    finally:
        await engine.stop(drain=False)
    api = probe["api_ms"]
    return {
        "backend": report.summary,
        "api_p50": percentile(api, 0.5), "api_p99": percentile(api, 0.99), "api_max": max(api, default=float("nan")),
        "api_count": len(api), "api_errors": probe["api_errors"],
        "lag_p99": percentile(lag.samples, 0.99), "lag_max": max(lag.samples, default=float("nan")),
        "uploads": probe["uploads"]["statuses"],
        "upload_ms": statistics.fmean(probe["uploads"]["ms"] or [float("nan")]),
        "upload_bytes": probe["uploads"].get("bytes", 0),
        "fps_min": min(fps, default=float("nan")), "fps_mean": statistics.fmean(fps or [float("nan")]),
        "stalls": lag.stall_ms,
    }


def main(args: argparse.Namespace) -> int:
    """Measure and print a markdown table (a row per variant)."""
    load = os.getloadavg()[0]
    rows = []
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval / 1000)
    variants = [("thread", True)] if args.compare else []
    variants += [(inference, False) for inference in args.inference or ["thread"]]
    for inference, on_loop in variants:
        with work_on_the_loop() if on_loop else contextlib.nullcontext():
            where = "on the event loop (before)" if on_loop else "in threads"
            name = where + ("" if inference == "thread" else f", inference in a process ({inference})")
            rows.append((name, asyncio.run(measure(args, inference))))
    r = rows[-1][1]  # the figures every row shares
    print(f"\n`streamer serve` responsiveness: model `{args.model}`, {r['backend']}, {args.sessions} sessions "
          f"of 640x480 at 30 fps (callers in a second process), {args.megapixels:g}-megapixel PNG uploads "
          f"({r['upload_bytes'] / 1e6:.2f} MB each, unique) back to back from a third, {args.seconds:g} s, "
          f"{machine_description()}, GIL switch interval {1000 * sys.getswitchinterval():g} ms, "
          f"load average {load:.1f} at the start.\n")
    print("| decode and conversions | /api/info p50 / p99 / max | requests | event-loop lag p99 / max | "
          f"loop thread in stalls > {STALL_MS:g} ms: ran / waited for a core / blocked | "
          "uploads (status: count) | upload time (mean) | fps per session (slowest / mean) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for name, row in rows:
        uploads = ", ".join(f"{k}: {v}" for k, v in sorted(row["uploads"].items()))
        stalls = row["stalls"]
        total = sum(stalls.values()) or float("nan")
        print(f"| {name} | {row['api_p50']:.1f} / {row['api_p99']:.1f} / {row['api_max']:.1f} ms | "
              f"{row['api_count']} | {row['lag_p99']:.1f} / {row['lag_max']:.1f} ms | "
              f"{total:.0f} ms: {100 * stalls['ran'] / total:.0f} / {100 * stalls['runnable'] / total:.0f} / "
              f"{100 * stalls['blocked'] / total:.0f} % | {uploads} | "
              f"{row['upload_ms'] / 1000:.1f} s | {row['fps_min']:.1f} / {row['fps_mean']:.1f} |")
    first_name, first = rows[0]
    for name, row in rows[1:]:
        print(f"\n{name} vs {first_name}, same run: /api/info p99 x{row['api_p99'] / first['api_p99']:.2f}, "
              f"worst loop lag x{row['lag_max'] / first['lag_max']:.2f}, "
              f"fps per session x{row['fps_mean'] / first['fps_mean']:.2f}.")
    print()
    for name, row in rows:
        verdict = "met" if row["api_p99"] <= TARGET_P99_MS else "NOT met"
        print(f"{name}: /api/info p99 {row['api_p99']:.1f} ms: target <= {TARGET_P99_MS:g} ms {verdict}."
              + (f" API errors: {row['api_errors']}" if row["api_errors"] else ""))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="fast")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size", default="256", help="processing size (default: %(default)s)")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--megapixels", type=float, default=16.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--compare", action="store_true",
                        help="first measure with that work on the event loop (as before), then as it is")
    parser.add_argument("--inference", action="append", choices=["thread", *ProcessPriority],
                        help="where inference runs: the engine's thread, or a process of its own at "
                             "that CPU priority; repeat for a row each, in this order (default: thread)")
    parser.add_argument("--switch-interval", type=float, metavar="MS",
                        help="the interpreter's GIL switch interval in ms (default: Python's, 5)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(parse_args()))

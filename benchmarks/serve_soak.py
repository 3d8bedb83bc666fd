"""Soak test of `streamer serve`: sessions coming and going plus hostile requests, for minutes.

The server runs in this process on 127.0.0.1 with a token. A second process runs sets of
``--sessions`` aiortc callers (640x480 at 30 fps) that connect, stream ``--cycle`` seconds and
hang up, over and over; a third times ``GET /api/info`` every 50 ms and sends the hostile-request
barrage of ``tests/server/hostile.py`` (23 kinds: malformed, oversized, split, chunked, slow and
never-finished requests, an upload in two pieces...) in rounds against the current session.

Measured in the server between cycles (no session open, after a collection): resident memory
(growth from the end of the warm-up to the end, as the median of the first third of those
points against the median of the last third; target < 5 %), asyncio tasks, threads, open
peer connections and engine streams (target: nothing left over); from the prober: the worst
/api/info latency; from the server's log: tracebacks (target 0).

    python benchmarks/serve_soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import statistics
import sys
import threading
import time
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
from streamer.server import ServerSettings  # noqa: E402
from tests.server.harness import running_server  # noqa: E402

TOKEN = "soak-benchmark-token"


class Tracebacks(logging.Handler):
    """Counts log records that carry a traceback (any logger, any level)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback" in record.getMessage():
            self.records.append(f"{record.name}: {record.getMessage()[:200]}")


def _rss_mb() -> float:
    """Resident memory after a full collection, glibc's free heap pages handed back."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _tasks() -> list[str]:
    """Pending asyncio tasks, less the handlers of HTTP connections open at that moment (the
    prober's and the barrage's requests keep coming between cycles)."""
    names = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "__qualname__", "?")
        if not code.startswith(("RequestHandler.", "BaseRequestHandler.")):
            names.append(code)
    return sorted(names)


def _threads() -> list[str]:
    """Running threads, less the loop's default executor (a pool of fixed size, grown on demand)."""
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_"))


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak for ``args.minutes``; return the figures."""
    caught = Tracebacks()
    logging.getLogger().addHandler(caught)
    logging.getLogger().setLevel(logging.DEBUG)  # every record reaches the counter
    engine = Engine.create(args.model, BackendOptions(backend="cpu", threads=args.threads), max_batch=4,
                           use_disk_cache=False)
    report = await engine.start()
    settings = ServerSettings(port=0, size=ProcessingSize.parse(args.size), max_sessions=args.sessions, token=TOKEN)
    quiet: list[dict[str, Any]] = []  # the server between cycles
    started = time.monotonic()
    warm_until = started + args.warmup * 60
    try:
        async with running_server(engine, settings) as server:
            async with spawn("callers", server.url, "--token", TOKEN, "--sessions", str(args.sessions),
                             "--cycle", str(args.cycle), "--wait-go") as callers, \
                    spawn("probe", server.url, "--token", TOKEN, "--barrage", "--barrage-pause", "2",
                          "--max-upload-bytes", str(settings.max_upload_bytes)) as prober:
                deadline = started + args.minutes * 60
                while time.monotonic() < deadline:
                    try:
                        line = await asyncio.wait_for(callers.lines.get(), max(1.0, deadline - time.monotonic()))
                    except TimeoutError:
                        break
                    if line.startswith("SESSIONS "):
                        prober.tell("SESSION " + line.split()[1])
                    elif line == "LEFT":
                        prober.tell("ENDED")
                        await server.wait_sessions(0, limit=30)
                        await asyncio.sleep(0.5)  # closed transports finish their last callbacks
                        quiet.append({
                            "at": time.monotonic() - started, "warm": time.monotonic() >= warm_until,
                            "rss_mb": _rss_mb(), "tasks": len(_tasks()), "task_names": _tasks(), "threads": _threads(),
                            "open_pcs": server.registry.open_peer_connections,
                            "lanes": [s for s in engine.stats()["streams"] if s.startswith("session-")],
                        })
                        print(f"  {quiet[-1]['at']:6.0f} s: RSS {quiet[-1]['rss_mb']:.0f} MB, "
                              f"{quiet[-1]['tasks']} tasks, {len(quiet[-1]['threads'])} threads, "
                              f"{server.registry.closed_count} sessions so far", file=sys.stderr, flush=True)
                        callers.tell("GO")
                probe = await prober.finish()
                load = await callers.finish()
            closed = server.registry.closed_count
    finally:
        await engine.stop(drain=False)
        logging.getLogger().removeHandler(caught)
    after = [q for q in quiet if q["warm"]]
    if len(after) < 2:
        raise RuntimeError(f"only {len(after)} quiet points after the warm-up: run longer (--minutes)")
    first, last = after[0], after[-1]
    # memory moves by +-5 % from one cycle to the next (codec buffers, allocator): compare the
    # median of the first third of the quiet points after the warm-up with that of the last third
    third = max(1, len(after) // 3)
    rss_early = statistics.median(q["rss_mb"] for q in after[:third])
    rss_late = statistics.median(q["rss_mb"] for q in after[-third:])
    api = probe["api_ms"]
    return {
        "backend": report.summary, "minutes": args.minutes,
        "cycles": load["cycles"], "cycle_failures": load["failures"],
        "sessions": closed, "fps_mean": statistics.fmean(load["fps"] or [float("nan")]),
        "rss_first": rss_early, "rss_last": rss_late, "rss_max": max(q["rss_mb"] for q in after),
        "rss_growth": rss_late / rss_early - 1.0, "rss_points": len(after),
        "tasks_first": first["tasks"], "tasks_last": last["tasks"],
        "new_tasks": sorted(set(last["task_names"]) - set(first["task_names"])),
        "new_threads": sorted(set(last["threads"]) - set(first["threads"])),
        "open_pcs": last["open_pcs"], "lanes": last["lanes"],
        "api_p99": percentile(api, 0.99), "api_max": max(api, default=float("nan")), "api_count": len(api),
        "api_errors": probe["api_errors"], "barrage_rounds": probe["barrage"]["rounds"],
        "barrage_wrong": probe["barrage"]["wrong"][:20], "tracebacks": caught.records[:20],
        "traceback_count": len(caught.records),
    }


def main(args: argparse.Namespace) -> int:
    """Run and print the figures as a markdown table."""
    load = os.getloadavg()[0]
    r = asyncio.run(soak(args))
    print(f"\n`streamer serve` soak: {r['minutes']:g} min, model `{args.model}`, {r['backend']}, "
          f"sets of {args.sessions} sessions of 640x480 at 30 fps streaming {args.cycle:g} s then leaving, "
          f"the hostile-request barrage in rounds, /api/info every 50 ms; {machine_description()}, "
          f"load average {load:.1f} at the start; warm-up {args.warmup:g} min.\n")
    print("| sessions (cycles) | RSS after warm-up → end, medians of thirds (max) | RSS growth | "
          "tasks after warm-up → end | new threads | peer connections / engine streams left | /api/info p99 / worst | "
          "barrage rounds (wrong answers) | tracebacks |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {r['sessions']} ({r['cycles']}) | {r['rss_first']:.0f} → {r['rss_last']:.0f} ({r['rss_max']:.0f}) MB | "
          f"{100 * r['rss_growth']:+.1f} % | {r['tasks_first']} → {r['tasks_last']} | {len(r['new_threads'])} | "
          f"{r['open_pcs']} / {len(r['lanes'])} | {r['api_p99']:.0f} / {r['api_max']:.0f} ms | "
          f"{r['barrage_rounds']} ({len(r['barrage_wrong'])}) | {r['traceback_count']} |")
    met = (r["rss_growth"] < 0.05 and r["tasks_last"] <= r["tasks_first"] and not r["new_threads"]
           and r["open_pcs"] == 0 and not r["lanes"] and r["traceback_count"] == 0)
    print(f"\nTargets (< 5 % RSS growth after warm-up, 0 leaks, 0 tracebacks): {'met' if met else 'NOT met'}. "
          f"Mean fps per session {r['fps_mean']:.1f}; {r['cycle_failures']} cycles failed to connect; "
          f"{r['api_count']} /api/info requests.")
    for key in ("new_tasks", "new_threads", "lanes", "barrage_wrong", "tracebacks", "api_errors"):
        if r[key]:
            print(f"{key}: {r[key]}")
    return 0 if met else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before memory is compared")
    parser.add_argument("--cycle", type=float, default=20.0, help="seconds each set of sessions streams")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size", default="256")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    for console in logging.getLogger().handlers:
        console.setLevel(logging.ERROR)
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.exit(main(parse_args()))

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
``--work-niceness N`` (repeatable) runs every thread of the server but the event loop's N nicer
than it (``streamer serve --work-niceness``; 0: off). ``--callers-priority`` (repeatable) runs the
load generator's callers (the aiortc peers that stand for remote browsers) at ``normal``
priority, ``background`` (nice +10), ``nice`` (19) or ``idle`` (SCHED_IDLE); the prober stays
at normal priority (its own waits would count as the server's latency). Rows: every
combination, ``--rounds`` times over, alternating.
``--threads`` sets inference's CPU threads, ``--switch-interval`` the interpreter's GIL switch
interval (the loop thread waits up to that long for the GIL whenever it gave it up).

Where the time goes, per run: every thread of the server (``/proc/self/task/*/schedstat``,
grouped by what the thread is) and the load processes: CPU used and time spent waiting for a
core, per second; and a sampler in a process of its own (``loop_sampler.py``) that reads the
loop thread's counters and system call 200 times a second, so that its stalls split into
running, waiting for a core, waiting in ``futex`` (the GIL) and idle in ``epoll``.

    python benchmarks/serve_responsiveness.py --model fast --seconds 60 --compare
    python benchmarks/serve_responsiveness.py --seconds 30 --threads 1
    python benchmarks/serve_responsiveness.py --seconds 25 --inference thread --inference idle
    python benchmarks/serve_responsiveness.py --seconds 20 --work-niceness 0 --work-niceness 10 \
        --callers-priority normal --callers-priority idle --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from loop_sampler import attribute, gil_holders  # noqa: E402
from serve_load import PRIORITIES, percentile, spawn  # noqa: E402

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


class GcPauses:
    """The interpreter's cyclic garbage collections while installed: (generation, ms, thread).

    A collection runs in whichever thread allocates when the counters trip, holding the GIL: a
    full (generation 2) one walks every object of the process."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float, str]] = []
        self._started: dict[int, float] = {}

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        thread = threading.get_ident()
        if phase == "start":
            self._started[thread] = time.perf_counter()
        elif thread in self._started:
            ms = 1000 * (time.perf_counter() - self._started.pop(thread))
            self.pauses.append((info["generation"], ms, threading.current_thread().name))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, Any]:
        """Per generation: count, total ms, worst ms and the thread it ran in."""
        out: dict[str, Any] = {}
        for generation in (0, 1, 2):
            pauses = [p for p in self.pauses if p[0] == generation]
            worst = max(pauses, key=lambda p: p[1], default=(generation, 0.0, "-"))
            out[f"gen{generation}"] = (len(pauses), sum(p[1] for p in pauses), worst[1], worst[2])
        return out


class LoopLag:
    """How late the running loop wakes a ``period`` timer (ms), sampled until stopped, and
    where the loop thread was during the stalls (ms in all: ran, waited for a core, blocked)."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: list[float] = []
        self.stall_ms = {"ran": 0.0, "runnable": 0.0, "blocked": 0.0}
        self.stalls: list[tuple[float, float]] = []  #: (monotonic start, end) of each stall
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = _schedstat()
            started = time.monotonic()
            due = loop.time() + self.period
            await asyncio.sleep(self.period)
            lag = 1000 * max(0.0, loop.time() - due)
            if lag > STALL_MS:
                self.stalls.append((started, time.monotonic()))
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


def _thread_kind(name: str | None, loop_thread: int, tid: int) -> str:
    """What a thread of the server is, from its Python name (None: started by native code)."""
    if tid == loop_thread:
        return "event loop"
    if name is None:
        return "native (XNNPACK pool, codec threads)"
    if name.startswith("streamer-inference"):
        return "inference"
    if name.endswith("-decoder"):
        return "aiortc decoders"
    if name.startswith("asyncio_"):
        return "default executor (encoders, conversions, decodes)"
    return "other Python threads"


def thread_times(loop_thread: int) -> dict[int, tuple[str, int, int, int]]:
    """Every thread of this process: tid -> (kind, ns ran, ns waited for a core, niceness)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for entry in os.listdir("/proc/self/task"):
        tid = int(entry)
        try:
            ran, waited = Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[:2]
            nice = os.getpriority(os.PRIO_PROCESS, tid)
        except (OSError, ValueError):
            continue
        out[tid] = (_thread_kind(names.get(tid), loop_thread, tid), int(ran), int(waited), nice)
    return out


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds used by process ``pid`` and its threads so far (ended threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def by_kind(before: dict[int, tuple[str, int, int, int]], after: dict[int, tuple[str, int, int, int]],
            seconds: float) -> dict[str, dict[str, Any]]:
    """Per kind of thread over the window: cores used, cores' worth of waiting, thread count and
    niceness range (threads started within the window count from zero)."""
    kinds: dict[str, dict[str, Any]] = {}
    for tid, (kind, ran, waited, nice) in after.items():
        _, ran0, waited0, _ = before.get(tid, (kind, 0, 0, nice))
        row = kinds.setdefault(kind, {"cpu": 0.0, "wait": 0.0, "threads": 0, "nice": set()})
        row["cpu"] += (ran - ran0) / 1e9 / seconds
        row["wait"] += (waited - waited0) / 1e9 / seconds
        row["threads"] += 1
        row["nice"].add(nice)
    return kinds


@contextlib.asynccontextmanager
async def loop_sampler() -> Any:
    """Sample this thread (the loop's) from a process of its own; yields a list that holds the
    samples once the block ends."""
    samples: list[list[float]] = []
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "loop_sampler.py"), str(os.getpid()),
        str(threading.get_native_id()), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024)
    try:
        yield samples
    finally:
        out, _ = await process.communicate(b"")
        samples += json.loads(out or b"[]")


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


async def measure(args: argparse.Namespace, variant: Variant) -> dict[str, Any]:
    """One run: callers stream, the prober probes and uploads, for ``args.seconds``; inference
    on the engine's thread (``thread``) or in a process of its own at that priority."""
    with raised_thread(variant.loop_raised):
        return await _measure(args, variant)


@contextlib.contextmanager
def raised_thread(steps: int) -> Iterator[None]:
    """The calling thread (the loop's) ``steps`` less nice for the block; threads it starts
    meanwhile inherit that (the server lowers them again by its work niceness)."""
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if steps:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), before - steps)
    try:
        yield
    finally:
        if steps:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), before)


async def _measure(args: argparse.Namespace, variant: Variant) -> dict[str, Any]:
    process = None if variant.inference == "thread" else ProcessPriority(variant.inference)
    engine = Engine.create(args.model, BackendOptions(backend="cpu", threads=args.threads), max_batch=4,
                           use_disk_cache=False, inference_process=process)
    report = await engine.start()
    settings = ServerSettings(port=0, size=ProcessingSize.parse(args.size), max_sessions=args.sessions,
                              max_upload_bytes=64 * 1024 * 1024, max_upload_pixels=16_000_000,
                              work_niceness=variant.work_niceness)
    loop_thread = threading.get_native_id()
    try:
        async with running_server(engine, settings) as server, \
                spawn("callers", server.url, "--sessions", str(args.sessions),
                      priority=variant.callers) as callers:
            line = await asyncio.wait_for(callers.lines.get(), 180)
            if not line.startswith("SESSIONS"):
                raise RuntimeError(f"the callers did not connect: {line!r}")
            upload_to = line.split()[1]
            lag = LoopLag()
            async with spawn("probe", server.url, "--upload-megapixels", str(args.megapixels)) as prober:
                await asyncio.sleep(2.0)  # the prober makes its image first
                async with loop_sampler() as samples:
                    threads_before = thread_times(loop_thread)
                    load_before = {name: process_cpu_seconds(child.process.pid)
                                   for name, child in (("callers", callers), ("prober", prober))}
                    started = time.monotonic()
                    gc_pauses = GcPauses().__enter__()
                    lag.start()
                    prober.tell(f"SESSION {upload_to}")
                    await asyncio.sleep(args.seconds)
                    await lag.stop()
                    gc_pauses.__exit__()
                    window = time.monotonic() - started
                    threads_after = thread_times(loop_thread)
                    load_cpu = {name: (process_cpu_seconds(child.process.pid) - load_before[name]) / window
                                for name, child in (("callers", callers), ("prober", prober))}
                probe = await prober.finish()
            caller_result = await callers.finish()
    finally:
        await engine.stop(drain=False)
    fps, sent = caller_result["fps"], caller_result.get("sent_fps", [])
    api = probe["api_ms"]
    own = [ms - wait for ms, wait in zip(api, probe.get("api_wait_ms", [0.0] * len(api)), strict=True)]
    return {
        "backend": report.summary,
        "api_p50": percentile(api, 0.5), "api_p99": percentile(api, 0.99), "api_max": max(api, default=float("nan")),
        "api_count": len(api), "api_errors": probe["api_errors"],
        "server_p99": percentile(own, 0.99), "prober_wait": sum(probe.get("api_wait_ms", [])),
        "lag_p99": percentile(lag.samples, 0.99), "lag_max": max(lag.samples, default=float("nan")),
        "uploads": probe["uploads"]["statuses"],
        "upload_ms": statistics.fmean(probe["uploads"]["ms"] or [float("nan")]),
        "upload_bytes": probe["uploads"].get("bytes", 0),
        "fps_min": min(fps, default=float("nan")), "fps_mean": statistics.fmean(fps or [float("nan")]),
        "stalls": lag.stall_ms,
        "sent_fps": statistics.fmean(sent or [float("nan")]),
        "gc": gc_pauses.summary(),
        "objects": len(gc.get_objects()),
        "threads": by_kind(threads_before, threads_after, window),
        "load_cpu": load_cpu,
        "sampled": attribute(samples, lag.stalls),
        "sampled_all": attribute(samples, [(started, started + window)]),
        "gil": gil_holders(samples, lag.stalls, lambda tid: threads_after.get(tid, ("ended since",))[0]),
    }


class Variant(NamedTuple):
    """One row: where inference runs, the work threads' niceness, the callers' priority, and
    whether decodes and conversions run on the loop (the ``--compare`` row)."""

    inference: str = "thread"
    work_niceness: int = 0
    callers: str = "normal"
    on_loop: bool = False
    loop_raised: int = 0

    @property
    def name(self) -> str:
        parts = ["on the event loop (before)" if self.on_loop else "in threads",
                 f"work threads +{self.work_niceness}", f"callers {self.callers}"]
        if self.inference != "thread":
            parts.append(f"inference in a process ({self.inference})")
        if self.loop_raised:
            parts.append(f"server started {self.loop_raised} less nice")
        return ", ".join(parts)


def parse_variant(spec: str) -> Variant:
    """``work=10,raise=10,callers=normal,inference=thread`` (any of them; the rest default)."""
    fields: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key == "work":
            fields["work_niceness"] = int(value)
        elif key == "raise":
            fields["loop_raised"] = int(value)
        elif key == "callers" and value in PRIORITIES:
            fields["callers"] = value
        elif key == "inference" and value in ("thread", *ProcessPriority):
            fields["inference"] = value
        else:
            raise argparse.ArgumentTypeError(f"--variant: cannot read {item!r}")
    return Variant(**fields)


def variants(args: argparse.Namespace) -> list[Variant]:
    """Every combination of the options (or the ``--variant`` rows), ``args.rounds`` times over."""
    if args.variant:
        return list(args.variant) * args.rounds
    combos = [Variant(inference, niceness, callers, loop_raised=raised)
              for inference, callers, raised, niceness in itertools.product(
                  args.inference or ["thread"], args.callers_priority or ["normal"], args.raise_server or [0],
                  args.work_niceness or [0])]
    if args.compare:
        combos.insert(0, combos[0]._replace(on_loop=True))
    return combos * args.rounds


def _nice_range(values: set[int]) -> str:
    return f"{min(values)}" if len(values) == 1 else f"{min(values)}..{max(values)}"


def print_threads(rows: list[tuple[Variant, dict[str, Any]]]) -> None:
    """Per row: each kind of server thread and each load process, cores used and waited."""
    print("\nCPU per second of the window (cores used / cores' worth of waiting for one; niceness):\n")
    kinds = sorted({kind for _, row in rows for kind in row["threads"]})
    print("| row | " + " | ".join(kinds) + " | callers (process) | prober (process) |")
    print("|---" * (len(kinds) + 3) + "|")
    for number, (_, row) in enumerate(rows, 1):
        cells = []
        for kind in kinds:
            t = row["threads"].get(kind)
            cells.append("-" if t is None else
                         f"{t['cpu']:.2f} / {t['wait']:.2f} ({t['threads']}; nice {_nice_range(t['nice'])})")
        print(f"| {number} | " + " | ".join(cells) +
              f" | {row['load_cpu']['callers']:.2f} | {row['load_cpu']['prober']:.2f} |")
    print("\nThe loop thread in its stalls over 30 ms, sampled from another process at 200 Hz "
          "(share of the stalls' time; whole window in brackets):\n")
    for number, (_, row) in enumerate(rows, 1):
        total = sum(row["sampled"].values()) or float("nan")
        whole = sum(row["sampled_all"].values()) or float("nan")
        parts = [f"{name} {100 * ms / total:.0f} % ({100 * row['sampled_all'].get(name, 0.0) / whole:.0f} %)"
                 for name, ms in sorted(row["sampled"].items(), key=lambda kv: -kv[1])]
        print(f"{number}. {total:.0f} ms: " + ", ".join(parts))
    print("\nThe interpreter's garbage collections in the window (count, total ms, worst ms and the "
          "thread it ran in; it holds the GIL throughout):\n")
    for number, (_, row) in enumerate(rows, 1):
        g = row["gc"]
        print(f"{number}. " + ", ".join(f"generation {n}: {g[f'gen{n}'][0]}, {g[f'gen{n}'][1]:.0f} ms, "
                                        f"worst {g[f'gen{n}'][2]:.1f} ms ({g[f'gen{n}'][3]})" for n in (0, 1, 2))
              + f"; {row['objects']} objects tracked")
    print("\nWhile the loop thread waited in futex in those stalls: how often each kind of thread was "
          "running or runnable (the GIL's holder is one of the Python ones):\n")
    for number, (_, row) in enumerate(rows, 1):
        print(f"{number}. " + ", ".join(f"{kind} {100 * share:.0f} %" for kind, share in
                                        sorted(row["gil"].items(), key=lambda kv: -kv[1])))


def main(args: argparse.Namespace) -> int:
    """Measure and print a markdown table (a row per variant)."""
    load = os.getloadavg()[0]
    rows = []
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval / 1000)
    for variant in variants(args):
        with work_on_the_loop() if variant.on_loop else contextlib.nullcontext():
            rows.append((variant, asyncio.run(measure(args, variant))))
    r = rows[-1][1]  # the figures every row shares
    print(f"\n`streamer serve` responsiveness: model `{args.model}`, {r['backend']}, {args.sessions} sessions "
          f"of 640x480 at 30 fps (callers in a second process), {args.megapixels:g}-megapixel PNG uploads "
          f"({r['upload_bytes'] / 1e6:.2f} MB each, unique) back to back from a third, {args.seconds:g} s, "
          f"{machine_description()}, GIL switch interval {1000 * sys.getswitchinterval():g} ms, "
          f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n")
    print("| row | variant | /api/info p50 / p99 / max | p99 without the prober's own waits for a core | "
          "requests | event-loop lag p99 / max | "
          f"loop thread in stalls > {STALL_MS:g} ms: ran / waited for a core / blocked | "
          "uploads (status: count) | upload time (mean) | fps per session back (slowest / mean) | "
          "fps sent per session |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for number, (variant, row) in enumerate(rows, 1):
        uploads = ", ".join(f"{k}: {v}" for k, v in sorted(row["uploads"].items()))
        stalls = row["stalls"]
        total = sum(stalls.values()) or float("nan")
        print(f"| {number} | {variant.name} | {row['api_p50']:.1f} / {row['api_p99']:.1f} / {row['api_max']:.1f} ms | "
              f"{row['server_p99']:.1f} ms | {row['api_count']} | {row['lag_p99']:.1f} / {row['lag_max']:.1f} ms | "
              f"{total:.0f} ms: {100 * stalls['ran'] / total:.0f} / {100 * stalls['runnable'] / total:.0f} / "
              f"{100 * stalls['blocked'] / total:.0f} % | {uploads} | "
              f"{row['upload_ms'] / 1000:.1f} s | {row['fps_min']:.1f} / {row['fps_mean']:.1f} | "
              f"{row['sent_fps']:.1f} |")
    print_threads(rows)
    first = rows[0][1]
    print()
    for number, (_, row) in enumerate(rows[1:], 2):
        print(f"row {number} vs row 1, same run: /api/info p99 x{row['api_p99'] / first['api_p99']:.2f} "
              f"(without the prober's waits x{row['server_p99'] / first['server_p99']:.2f}), "
              f"worst loop lag x{row['lag_max'] / first['lag_max']:.2f}, "
              f"fps per session x{row['fps_mean'] / first['fps_mean']:.2f}.")
    print()
    for number, (variant, row) in enumerate(rows, 1):
        verdict = "met" if row["api_p99"] <= TARGET_P99_MS else "NOT met"
        print(f"{number}. {variant.name}: /api/info p99 {row['api_p99']:.1f} ms: target <= {TARGET_P99_MS:g} ms "
              f"{verdict} (without the prober's own waits for a core: {row['server_p99']:.1f} ms)."
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
    parser.add_argument("--work-niceness", type=int, action="append",
                        help="every server thread but the event loop's this much nicer than it (0: off); "
                             "repeat for a row each (default: 0, as `streamer serve`)")
    parser.add_argument("--callers-priority", action="append", choices=list(PRIORITIES),
                        help="CPU priority of the callers' process (the stand-in for remote browsers); "
                             "repeat for a row each (default: normal)")
    parser.add_argument("--raise-server", type=int, action="append", metavar="N",
                        help="start the server (engine and event loop) N less nice than this command "
                             "(needs root or CAP_SYS_NICE; as `nice -n -N streamer serve`); the "
                             "callers and prober keep this command's priority; repeat for a row each")
    parser.add_argument("--variant", type=parse_variant, action="append", metavar="SPEC",
                        help="a row, e.g. work=10,raise=10,callers=background,inference=thread "
                             "(repeatable; instead of the combinations of the options above)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every combination this many times, "
                                                              "alternating (default: %(default)s)")
    parser.add_argument("--switch-interval", type=float, metavar="MS",
                        help="the interpreter's GIL switch interval in ms (default: Python's, 5)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(parse_args()))

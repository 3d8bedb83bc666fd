"""Where one thread of another process spends its time: a sampler for the serve benchmarks.

``python benchmarks/loop_sampler.py PID TID [--hz 200]`` reads, ``--hz`` times a second until
stdin closes, the thread's scheduler counters (``/proc/PID/task/TID/schedstat``: ns on a core,
ns runnable waiting for one) and the system call it is in (``.../syscall``), then prints one
JSON list of samples ``[monotonic seconds, ns ran, ns waited, syscall number or -1 (running),
[other threads]]``. Whenever the thread waits in ``futex`` (for the GIL, most often), the other
threads of the process that are running or runnable are listed: the GIL's holder is one of
them (a thread in a system call has released it), unless it is a native thread.

It runs in a process of its own because a thread of the sampled process would need that
process's GIL to run: exactly what it could not measure. ``CLOCK_MONOTONIC`` is shared by every
process, so the samples line up with the sampled process's ``time.monotonic()``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

#: x86-64 system call numbers the event loop's thread waits in
SYSCALLS = {202: "futex (the GIL, or a lock)", 232: "epoll_wait (idle)", 281: "epoll_pwait (idle)",
            7: "poll", 23: "select", 270: "pselect6", 0: "read", 1: "write", 44: "sendto", 45: "recvfrom"}


FUTEX = 202


def _candidates(pid: int, tid: int) -> list[int]:
    """Threads of ``pid`` but ``tid`` that are running or runnable (state ``R``): a thread in a
    system call has released the GIL (CPython releases it around blocking calls)."""
    found = []
    try:
        others = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for entry in others:
        if int(entry) == tid:
            continue
        try:
            with open(f"/proc/{pid}/task/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "R":
                    found.append(int(entry))
        except (OSError, IndexError):
            continue
    return found


def sample(pid: int, tid: int, hz: float, stop: threading.Event) -> list[list[float]]:
    """Samples of thread ``tid`` of ``pid`` until ``stop`` is set (or the thread ends)."""
    folder = f"/proc/{pid}/task/{tid}"
    samples: list[list[float]] = []
    period = 1.0 / hz
    while not stop.is_set():
        try:
            with open(f"{folder}/schedstat") as f:
                ran, waited = f.read().split()[:2]
            with open(f"{folder}/syscall") as f:
                call = f.read().split()[0]
        except OSError:
            break
        number = -1 if call == "running" else int(call)
        samples.append([time.monotonic(), int(ran), int(waited), number,
                        _candidates(pid, tid) if number == FUTEX else []])
        time.sleep(period)
    return samples


def attribute(samples: list[list[float]], intervals: Iterable[tuple[float, float]]) -> dict[str, float]:
    """Milliseconds the thread spent, within ``intervals`` (monotonic seconds), running, waiting
    for a core, and blocked in each system call (the call it was in at the end of each sample
    period, else at its start; the rest of the period after its run and wait counters)."""
    spans = sorted(intervals)
    out: dict[str, float] = {}
    for before, after in zip(samples, samples[1:], strict=False):
        middle = (before[0] + after[0]) / 2
        if not any(start <= middle <= end for start, end in spans):
            continue
        ran = (after[1] - before[1]) / 1e6
        waited = (after[2] - before[2]) / 1e6
        rest = max(0.0, 1000 * (after[0] - before[0]) - ran - waited)
        out["ran"] = out.get("ran", 0.0) + ran
        out["waited for a core"] = out.get("waited for a core", 0.0) + waited
        if rest:
            call = int(after[3]) if after[3] >= 0 else int(before[3])  # where it slept: either end
            name = "blocked: " + ("unseen (ran at both ends)" if call < 0 else SYSCALLS.get(call, f"syscall {call}"))
            out[name] = out.get(name, 0.0) + rest
    return out


def gil_holders(samples: list[list[Any]], intervals: Iterable[tuple[float, float]],
                kind_of: Callable[[int], str]) -> dict[str, float]:
    """While the thread waited in ``futex`` within ``intervals``: in what share of those samples
    each kind of thread (``kind_of(tid)``) was running or runnable."""
    spans = sorted(intervals)
    counts: dict[str, float] = {}
    total = 0
    for at, _, _, call, others in samples:
        if call != FUTEX or not any(start <= at <= end for start, end in spans):
            continue
        total += 1
        for kind in {kind_of(t) for t in others} or {"none seen"}:
            counts[kind] = counts.get(kind, 0.0) + 1
    return {kind: n / total for kind, n in counts.items()} if total else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("pid", type=int)
    parser.add_argument("tid", type=int)
    parser.add_argument("--hz", type=float, default=200.0)
    args = parser.parse_args()
    stop = threading.Event()
    result: list[list[list[float]]] = []
    worker = threading.Thread(target=lambda: result.append(sample(args.pid, args.tid, args.hz, stop)))
    worker.start()
    sys.stdin.read()
    stop.set()
    worker.join()
    print(json.dumps(result[0] if result else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())

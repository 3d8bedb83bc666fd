"""Where one thread of another process spends its time: a sampler for the serve benchmarks.

``python benchmarks/loop_sampler.py PID TID [--hz 200]`` reads, ``--hz`` times a second until
stdin closes, the thread's scheduler counters (``/proc/PID/task/TID/schedstat``: ns on a core,
ns runnable waiting for one) and the system call it is in (``.../syscall``), then prints one
JSON list of samples ``[monotonic seconds, ns ran, ns waited, syscall number or -1 (running)]``.

It runs in a process of its own because a thread of the sampled process would need that
process's GIL to run: exactly what it could not measure. ``CLOCK_MONOTONIC`` is shared by every
process, so the samples line up with the sampled process's ``time.monotonic()``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterable

#: x86-64 system call numbers the event loop's thread waits in
SYSCALLS = {202: "futex (the GIL, or a lock)", 232: "epoll_wait (idle)", 281: "epoll_pwait (idle)",
            7: "poll", 23: "select", 270: "pselect6", 0: "read", 1: "write", 44: "sendto", 45: "recvfrom"}


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
        samples.append([time.monotonic(), int(ran), int(waited), -1 if call == "running" else int(call)])
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

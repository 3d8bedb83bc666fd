"""How many WebRTC sessions fit on this machine: sessions x fps x latency.

The real server runs in this process on 127.0.0.1; N real aiortc callers run in a second
process (as browsers would be elsewhere), each sending a moving 640x480 picture at ``--fps``.
Per row it measures the stylized frames each caller gets back, the end-to-end latency of each
frame (caller sends it -> caller receives its stylized version, matched by RTP timestamp), the
server's own latency (decoded -> handed to the encoder), the data-channel round trip, and how the
single inference thread batched frames of different sessions. Prints a markdown table.

The callers' VP8 encoding and decoding still share this machine's cores with the server, so the
figures are a lower bound for a server whose clients are on other machines.

    python benchmarks/webrtc_bench.py --model fast --sessions 1 2 3 4 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.config import ProcessingSize  # noqa: E402
from streamer.engine import Engine  # noqa: E402
from streamer.inference.backends import BackendOptions  # noqa: E402
from streamer.server import ServerSettings  # noqa: E402
from tests.server.harness import CLOCK, Caller, Server, running_server  # noqa: E402

TARGET_FPS = 15.0


# -- the callers' process ---------------------------------------------------------------------
async def callers_main(url: str, sessions: int, fps: float, seconds: float, width: int, height: int) -> None:
    """Connect ``sessions`` callers, print READY, measure for ``seconds``, print the raw figures."""
    import aiohttp

    from tests.media import pattern_frame

    frames = [pattern_frame(i, height, width) for i in range(30)]
    async with aiohttp.ClientSession() as http:
        server = Server(url, None, http)  # type: ignore[arg-type]
        callers = [Caller.sending(lambda i: frames[i % 30], fps=fps, limit=100_000, cycle=30, keep_images=False)
                   for _ in range(sessions)]
        for caller in callers:
            await caller.connect(server)
        for caller in callers:
            await caller.wait_frames(3, limit=60)
        await asyncio.sleep(1.0)  # warm-up: codecs settle, interpreter shapes are ready
        print("READY " + " ".join(c.session_id or "" for c in callers), flush=True)
        start = [c.received for c in callers]
        t0 = time.monotonic()
        rtts: list[float] = []
        while time.monotonic() - t0 < seconds:
            for caller in callers:
                if caller.channel.readyState == "open":
                    caller.send({"type": "ping", "t": time.monotonic()})
            await asyncio.sleep(0.5)
            for caller in callers:
                rtts += [m["_at"] - m["t"] for m in caller.messages if m.get("type") == "pong"]
                caller.messages.clear()
        elapsed = time.monotonic() - t0
        result = [{
            "session_id": c.session_id,
            "fps": (c.received - got0) / elapsed,
            "received": [(f.pts, f.at) for f in c.frames if f.at >= t0],
            "sent_at": c.track.sent_at,
        } for c, got0 in zip(callers, start, strict=True)]
        print("RESULT " + json.dumps({"callers": result, "rtts": rtts, "fps": fps}), flush=True)
        for caller in callers:
            await caller.close()


# -- the server's process ---------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def frame_latencies(received: list[tuple[int, float]], sent_at: dict[str, float], origin: int,
                    fps: float) -> list[float]:
    """Seconds from sending each frame to getting its stylized version back.

    The server keeps each frame's timestamp and both receivers count from the first frame they
    saw, so a returned frame's pts plus the server's first output pts is the sent pts (codecs
    round it by a tick or two, hence the nearest match).
    """
    sent = sorted(int(p) for p in sent_at)
    tolerance = CLOCK / fps / 2
    found = []
    for pts, at in received:
        target = pts + origin
        i = bisect.bisect_left(sent, target)
        nearest = min(sent[max(i - 1, 0):i + 1], key=lambda p: abs(p - target), default=None)
        if nearest is not None and abs(nearest - target) <= tolerance:
            found.append(at - sent_at[str(nearest)])
    return found


async def measure(engine: Engine, sessions: int, args: argparse.Namespace) -> dict[str, Any]:
    """One row: ``sessions`` callers for ``args.seconds``."""
    settings = ServerSettings(port=0, size=ProcessingSize.parse(args.size), max_sessions=sessions)
    async with running_server(engine, settings) as server:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--callers-for", server.url, "--sessions", str(sessions),
            "--fps", str(args.fps), "--seconds", str(args.seconds), "--width", str(args.width),
            "--height", str(args.height), stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"}, limit=64 * 1024 * 1024)
        try:
            ready = (await asyncio.wait_for(child.stdout.readline(), 120)).decode()  # type: ignore[union-attr]
            if not ready.startswith("READY"):
                raise RuntimeError(f"the callers did not start: {ready!r}")
            origins = {sid: server.registry.get(sid).output.first_pts or 0 for sid in ready.split()[1:]}
            before = engine.stats()
            line = (await asyncio.wait_for(child.stdout.readline(), args.seconds + 120)).decode()  # type: ignore[union-attr]
            after = engine.stats()
            sessions_seen = {s.id: s for s in server.registry}
            server_ms = [ms for s in sessions_seen.values() if (ms := s.stats.latency.percentile_ms(50)) is not None]
            lanes = [f"session-{sid[:8]}" for sid in origins]
            await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        await server.wait_sessions(0, limit=60)  # a lost DTLS goodbye is caught by the idle timeout
    data = json.loads(line.removeprefix("RESULT "))
    latencies = [x for c in data["callers"]
                 for x in frame_latencies(c["received"], c["sent_at"], origins[c["session_id"]], data["fps"])]

    def delta(lane: str, key: str) -> int:
        return int(after["streams"].get(lane, {}).get(key, 0) - before["streams"].get(lane, {}).get(key, 0))

    dropped = sum(delta(lane, "dropped") for lane in lanes)
    submitted = sum(delta(lane, "submitted") for lane in lanes)
    frames_done = after["frames"] - before["frames"]
    per_session = [c["fps"] for c in data["callers"]]
    return {
        "sessions": sessions,
        "fps_min": min(per_session),
        "fps_mean": statistics.fmean(per_session),
        "e2e_ms": 1000 * percentile(latencies, 0.5),
        "e2e_p90_ms": 1000 * percentile(latencies, 0.9),
        "server_ms": statistics.fmean(server_ms) if server_ms else float("nan"),
        "rtt_ms": 1000 * percentile(data["rtts"], 0.5),
        "dropped_pct": 100.0 * dropped / max(submitted, 1),
        "batched_pct": 100.0 * (after["batched_frames"] - before["batched_frames"]) / max(frames_done, 1),
        "busy_pct": 100.0 * (after["busy_seconds"] - before["busy_seconds"]) / args.seconds,
    }


async def main(args: argparse.Namespace) -> int:
    """Measure every row and print the table."""
    engine = Engine.create(args.model, BackendOptions(backend=args.backend, threads=args.threads),
                           max_batch=args.max_batch, use_disk_cache=False)
    report = await engine.start()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        rows = []
        for n in args.sessions:
            rows.append(await measure(engine, n, args))
            print(f"  {n} session(s): {rows[-1]['fps_min']:.1f} fps (slowest)", file=sys.stderr, flush=True)
    finally:
        await engine.stop(drain=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\n`streamer serve` WebRTC benchmark: model `{args.model}`, {report.summary}, "
          f"{args.width}x{args.height} camera at {args.fps:g} fps, processing size {args.size}, "
          f"{args.seconds:g} s per row, {cores} cores ({platform.machine()}), callers in a second "
          f"process on the same cores, load average {load:.1f} at the start.\n")
    print("| sessions | fps per session (slowest / mean) | end-to-end latency p50 / p90 | "
          "server latency | data-channel RTT | dropped | batched | inference busy |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['sessions']} | {r['fps_min']:.1f} / {r['fps_mean']:.1f} | {r['e2e_ms']:.0f} / "
              f"{r['e2e_p90_ms']:.0f} ms | {r['server_ms']:.0f} ms | {r['rtt_ms']:.0f} ms | "
              f"{r['dropped_pct']:.0f} % | {r['batched_pct']:.0f} % | {r['busy_pct']:.0f} % |")
    fitting = [r["sessions"] for r in rows if r["fps_min"] >= TARGET_FPS]
    print(f"\nSessions at >= {TARGET_FPS:g} fps each: {max(fitting) if fitting else 0} "
          f"(of {', '.join(str(n) for n in args.sessions)} tried).")
    return 0


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The engine and camera options every WebRTC benchmark takes."""
    parser.add_argument("--model", default="fast", help="model set (default: %(default)s)")
    parser.add_argument("--backend", default="cpu", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size", default="256", help="processing size (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default: %(default)s)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-batch", type=int, default=4)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--callers-for", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    options = parse_args()
    if options.callers_for:
        asyncio.run(callers_main(options.callers_for, options.sessions[0], options.fps, options.seconds,
                                 options.width, options.height))
        sys.exit(0)
    sys.exit(asyncio.run(main(options)))

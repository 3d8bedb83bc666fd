"""How many people fit in calls on this machine: participants per room x rooms x fps x latency.

The real server runs in this process on 127.0.0.1; the participants (real aiortc peers, as the
room page would be) run in a second process. Each sends a moving 640x480 picture at ``--fps``
and receives everyone else in its room, stylized with the sender's style (no self-view). Per
row it measures the frames each viewer gets from each other participant (fps per viewer and
sender), the end-to-end latency of each (sender sends a frame -> a viewer receives its
stylized version, matched by RTP timestamp through the server's relay), frames dropped by the
latest-frame policy, how busy the single inference thread was, and the server's CPU use (its
process: decoding, inference, one encoding per stream, relaying). Prints a markdown table.

The participants' own encoding and decoding (each decodes everyone else) share the machine's
cores with the server, so the figures are a lower bound for a server whose participants are on
other machines; the participants' process CPU is printed too.

    python benchmarks/rooms_bench.py --model fast --layouts 2x1 3x1 4x1 2x2 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.server.harness import PatternTrack, Server, running_server  # noqa: E402
from tests.server.room_clients import Member  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from webrtc_bench import add_common_arguments, frame_latencies, percentile  # noqa: E402

TARGET_FPS = 15.0


def _layout(text: str) -> tuple[int, int]:
    people, sep, rooms = text.partition("x")
    if not sep or not people.isdigit() or not rooms.isdigit() or int(people) < 2 or int(rooms) < 1:
        raise argparse.ArgumentTypeError(f"expected PEOPLExROOMS such as 4x1, got {text!r}")
    return int(people), int(rooms)


# -- the participants' process -----------------------------------------------------------------
async def participants_main(url: str, people: int, rooms: int, fps: float, seconds: float,
                            width: int, height: int) -> None:
    """Join ``rooms`` calls of ``people`` each, print READY, measure, print the raw figures."""
    import aiohttp

    from tests.media import pattern_frame

    frames = [pattern_frame(i, height, width) for i in range(30)]
    async with aiohttp.ClientSession() as http:
        server = Server(url, None, http)  # type: ignore[arg-type]
        members: list[tuple[str, Member]] = []
        for room in range(rooms):
            for _ in range(people):
                camera = PatternTrack(lambda i: frames[i % 30], fps, limit=1_000_000, cycle=30)
                member = Member(camera=camera, slots=people - 1, keep_images=False)
                status, body = await member.join(server, f"bench{room}")
                assert status == 201, body
                members.append((f"bench{room}", member))
        for room, member in members:
            others = [m for r, m in members if r == room and m is not member]
            for other in others:
                await member.wait_shown(other.tag or "", frames=3, limit=120)
        await asyncio.sleep(1.0)  # warm-up: codecs settle, interpreter shapes are ready
        print("READY", flush=True)
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
        result = []
        for room, member in members:
            people_by_mid = {p["mid"]: p["id"] for p in (member.room or {}).get("participants", []) if p["mid"]}
            result.append({
                "room": room, "tag": member.tag, "sent_at": member.camera.sent_at if member.camera else {},
                "received": {people_by_mid.get(mid, "?"): [(f.pts, f.at) for f in frames_ if f.at >= t0]
                             for mid, frames_ in member.by_mid.items()},
                "counts": {people_by_mid.get(mid, "?"): n for mid, n in member.counts.items()},
            })
        print("RESULT " + json.dumps({"members": result, "elapsed": elapsed, "cpu": cpu, "fps": fps}), flush=True)
        for _, member in members:
            await member.close()


# -- the server's process ----------------------------------------------------------------------
def _slot_origins(server: Server) -> dict[tuple[str, str], int]:
    """(viewer, sender) -> what to add to a pts the viewer received to get the sender's pts.

    The viewer counts from the first frame its slot sent (``first_pts``), the slot sends the
    sender's stream shifted by ``offset``, and the sender's stream keeps the camera's timing
    (the server counts from the first frame it got, which is the camera's first)."""
    from streamer.server.rooms import Participant

    origins = {}
    for call in server.context.calls:
        if isinstance(call, Participant):
            for slot in call.slots:
                if slot.showing is not None and slot.video.first_pts is not None:
                    origins[(call.tag, slot.showing.tag)] = slot.video.first_pts - slot.video.offset
    return origins


async def measure(engine: Engine, people: int, rooms: int, args: argparse.Namespace) -> dict[str, Any]:
    """One row: ``rooms`` calls of ``people`` each for ``args.seconds``."""
    settings = ServerSettings(port=0, size=ProcessingSize.parse(args.size), room_size=people, max_rooms=rooms,
                              idle_timeout=15.0, connect_timeout=60.0)
    async with running_server(engine, settings) as server:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--participants-for", server.url, "--layouts", f"{people}x{rooms}",
            "--fps", str(args.fps), "--seconds", str(args.seconds), "--width", str(args.width),
            "--height", str(args.height), stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"}, limit=64 * 1024 * 1024)
        try:
            ready = (await asyncio.wait_for(child.stdout.readline(), 300)).decode()  # type: ignore[union-attr]
            if not ready.startswith("READY"):
                raise RuntimeError(f"the participants did not start: {ready!r}")
            origins = _slot_origins(server)
            before, cpu0, load = engine.stats(), time.process_time(), os.getloadavg()[0]
            line = (await asyncio.wait_for(child.stdout.readline(), args.seconds + 120)).decode()  # type: ignore[union-attr]
            after, cpu = engine.stats(), time.process_time() - cpu0
            lanes = [name for name in after["streams"] if name.startswith("room-")]
            await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    data = json.loads(line.removeprefix("RESULT "))
    elapsed = data["elapsed"]
    sent_by_tag = {m["tag"]: m["sent_at"] for m in data["members"]}
    pair_fps, latencies = [], []
    for member in data["members"]:
        for sender, frames in member["received"].items():
            pair_fps.append(len(frames) / elapsed)
            origin = origins.get((member["tag"], sender))
            if origin is not None and sender in sent_by_tag:
                latencies += frame_latencies(frames, sent_by_tag[sender], origin, data["fps"])

    def delta(lane: str, key: str) -> int:
        return int(after["streams"].get(lane, {}).get(key, 0) - before["streams"].get(lane, {}).get(key, 0))

    dropped = sum(delta(lane, "dropped") for lane in lanes)
    submitted = sum(delta(lane, "submitted") for lane in lanes)
    return {
        "layout": f"{people} x {rooms}",
        "viewers": len(pair_fps),
        "fps_min": min(pair_fps) if pair_fps else 0.0,
        "fps_mean": statistics.fmean(pair_fps) if pair_fps else 0.0,
        "e2e_ms": 1000 * percentile(latencies, 0.5),
        "e2e_p90_ms": 1000 * percentile(latencies, 0.9),
        "dropped_pct": 100.0 * dropped / max(submitted, 1),
        "busy_pct": 100.0 * (after["busy_seconds"] - before["busy_seconds"]) / elapsed,
        "server_cores": cpu / elapsed,
        "clients_cores": data["cpu"] / elapsed,
        "load": load,
    }


async def main(args: argparse.Namespace) -> int:
    """Measure every row and print the table."""
    engine = Engine.create(args.model, BackendOptions(backend=args.backend, threads=args.threads),
                           max_batch=args.max_batch, use_disk_cache=False)
    report = await engine.start()
    try:
        rows = []
        for people, rooms in args.layouts:
            rows.append(await measure(engine, people, rooms, args))
            print(f"  {people} x {rooms}: {rows[-1]['fps_min']:.1f} fps (slowest viewer)", file=sys.stderr, flush=True)
    finally:
        await engine.stop(drain=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\n`streamer serve` calls benchmark: model `{args.model}`, {report.summary}, "
          f"{args.width}x{args.height} cameras at {args.fps:g} fps, processing size {args.size}, "
          f"{args.seconds:g} s per row, {cores} cores ({platform.machine()}), participants in a second "
          f"process on the same cores.\n")
    print("| people x rooms | streams watched | fps per viewer (slowest / mean) | end-to-end latency p50 / p90 | "
          "dropped | inference busy | server CPU | participants' CPU | load average |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layout']} | {r['viewers']} | {r['fps_min']:.1f} / {r['fps_mean']:.1f} | "
              f"{r['e2e_ms']:.0f} / {r['e2e_p90_ms']:.0f} ms | {r['dropped_pct']:.0f} % | {r['busy_pct']:.0f} % | "
              f"{r['server_cores']:.2f} cores | {r['clients_cores']:.2f} cores | {r['load']:.1f} |")
    fitting = [r["layout"] for r in rows if r["fps_min"] >= TARGET_FPS]
    print(f"\nLayouts where every viewer gets >= {TARGET_FPS:g} fps from everyone: "
          f"{', '.join(fitting) if fitting else 'none'}.")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--layouts", type=_layout, nargs="+", default=[(2, 1), (3, 1), (4, 1)],
                        metavar="PEOPLExROOMS", help="calls to measure (default: 2x1 3x1 4x1)")
    parser.add_argument("--participants-for", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    options = parse_args()
    if options.participants_for:
        (people, rooms), = options.layouts
        asyncio.run(participants_main(options.participants_for, people, rooms, options.fps, options.seconds,
                                      options.width, options.height))
        sys.exit(0)
    sys.exit(asyncio.run(main(options)))

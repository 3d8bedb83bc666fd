"""Batch conversion on Ray against the single-process ``convert``: throughput and what joining costs.

Inputs (generated): one long clip, and a folder of shorter clips, 640x360 at 25 fps with audio
and a keyframe every 2 s. Each is converted

* by the single-process path (``streamer convert``: one engine, decode/inference/encode threads);
* by ``--ray`` on a local Ray instance of ``--cpus`` CPUs, with 1 worker (``--ray-cpus-per-worker``
  = all of them) and with 2 workers (half each).

Ray is started once, before the measured runs (its start-up time is reported on its own), and
each worker's engine is warmed by one untimed run, as on a long-running cluster. Per row: wall
time, frames per second and speed-up over single-process; for Ray rows the chunk count, the
worker's seconds per chunk (decode + stylize + encode), the driver's seconds per chunk (reading
the chunk's packets + joining), bytes sent and received per chunk.

Prints a markdown table.

    python benchmarks/ray_bench.py --long-seconds 60 --clips 4 --clip-seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.bench import machine_description  # noqa: E402
from streamer.cluster import ClusterOptions, ClusterStats, run_cluster_jobs  # noqa: E402
from streamer.cluster.connect import import_ray, private_instance_options  # noqa: E402
from streamer.config import Backend, ProcessingSize  # noqa: E402
from streamer.convert import plan_jobs, run_jobs  # noqa: E402
from streamer.engine import Engine  # noqa: E402
from streamer.inference.backends import BackendOptions  # noqa: E402
from streamer.sinks.file import EncoderSettings  # noqa: E402
from streamer.sources.synthetic import write_clip  # noqa: E402
from streamer.styles import StyleRecipe  # noqa: E402

FPS = 25


@dataclass
class Row:
    inputs: str
    mode: str
    frames: int
    seconds: float
    fps: float
    speedup: float = 1.0
    chunks: int = 0
    worker_s_per_chunk: float = 0.0
    pack_s_per_chunk: float = 0.0
    join_s_per_chunk: float = 0.0
    sent_kb_per_chunk: float = 0.0
    received_kb_per_chunk: float = 0.0


def make_inputs(folder: Path, long_seconds: float, clips: int, clip_seconds: float) -> dict[str, list[str]]:
    keyframes = {"g": str(2 * FPS), "keyint_min": str(2 * FPS), "sc_threshold": "0"}
    folder.mkdir(parents=True)
    long = write_clip(folder / "long.mp4", int(long_seconds * FPS), 640, 360, FPS, video_options=keyframes)
    many = folder / "clips"
    many.mkdir()
    for i in range(clips):
        write_clip(many / f"clip{i}.mp4", int(clip_seconds * FPS), 640, 360, FPS, video_options=keyframes)
    return {f"1 clip, {long_seconds:g} s": [str(long)], f"{clips} clips, {clip_seconds:g} s each": [str(many)]}


async def convert(inputs: list[str], out: Path, args: argparse.Namespace, cluster: ClusterOptions | None,
                  stats: ClusterStats | None = None) -> tuple[int, float]:
    """Convert ``inputs`` into ``out`` (a fresh folder); return frames and wall seconds."""
    out.mkdir(parents=True)
    many = len(inputs) > 1 or Path(inputs[0]).is_dir()
    jobs = plan_jobs(inputs, str(out if many else out / "out.mp4"), "bench")
    backend = BackendOptions(Backend.CPU, args.cpus)
    engine = Engine.create(args.model, backend)
    await engine.start()
    try:
        recipe = StyleRecipe.of(args.style)
        for name in recipe.styles:  # style images embedded before the clock starts
            await engine.styles.embedding(name)
        size, settings = ProcessingSize.parse(args.size), EncoderSettings()
        started = time.perf_counter()
        if cluster is None:
            outcomes = await run_jobs(engine, jobs, recipe, size, settings)
        else:
            outcomes = await run_cluster_jobs(engine, jobs, recipe, size, settings, backend, cluster, stats=stats)
        seconds = time.perf_counter() - started
    finally:
        await engine.stop()
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"conversion failed: {failed}")
    return sum(o.frames for o in outcomes), seconds


async def measure(args: argparse.Namespace, work: Path) -> tuple[list[Row], float]:
    ray = import_ray(loopback=True)  # loopback only: set before Ray is imported

    inputs = make_inputs(work / "in", args.long_seconds, args.clips, args.clip_seconds)
    rows: list[Row] = []
    runs = 0

    def next_out() -> Path:
        nonlocal runs
        runs += 1
        return work / f"out{runs}"

    for label, paths in inputs.items():
        frames, seconds = await convert(paths, next_out(), args, None)
        rows.append(Row(label, "single process", frames, seconds, frames / seconds))
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    started = time.perf_counter()
    ray.init(**private_instance_options(args.cpus), log_to_driver=False, logging_level=logging.ERROR)  # as --ray
    ray_start = time.perf_counter() - started
    try:
        for workers in (1, 2):
            options = ClusterOptions(chunk_seconds=args.chunk_seconds, cpus_per_worker=args.cpus / workers)
            await convert(inputs[next(iter(inputs))][:1], next_out(), args, options)  # warm the workers' engines
            for label, paths in inputs.items():
                stats = ClusterStats()
                frames, seconds = await convert(paths, next_out(), args, options, stats)
                single = next(r for r in rows if r.inputs == label and r.mode == "single process")
                per = max(stats.chunks, 1)
                rows.append(Row(label, f"--ray, {workers} worker{'s' if workers > 1 else ''}", frames, seconds,
                                frames / seconds, single.seconds / seconds, stats.chunks, stats.worker_seconds / per,
                                stats.pack_seconds / per, stats.join_seconds / per, stats.sent_bytes / per / 1e3,
                                stats.received_bytes / per / 1e3))
    finally:
        ray.shutdown()
    return rows, ray_start


def table(rows: list[Row]) -> str:
    lines = ["| inputs | mode | frames | seconds | fps | speed-up | chunks | worker s/chunk | pack s/chunk "
             "| join s/chunk | sent kB/chunk | received kB/chunk |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        extra = " | ".join(["–"] * 6)
        if r.chunks:
            extra = (f"{r.chunks} | {r.worker_s_per_chunk:.2f} | {r.pack_s_per_chunk:.3f} | {r.join_s_per_chunk:.3f} "
                     f"| {r.sent_kb_per_chunk:.0f} | {r.received_kb_per_chunk:.0f}")
        lines.append(f"| {r.inputs} | {r.mode} | {r.frames} | {r.seconds:.1f} | {r.fps:.1f} | {r.speedup:.2f} "
                     f"| {extra} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="fast", help="model set (default: fast)")
    parser.add_argument("--style", default="starry", help="style (default: starry)")
    parser.add_argument("--size", default="256", help="processing size (default: 256)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance and of single-process "
                                                            "inference (default: 2)")
    parser.add_argument("--long-seconds", type=float, default=60.0, help="length of the long clip (default: 60)")
    parser.add_argument("--clips", type=int, default=4, help="clips in the folder (default: 4)")
    parser.add_argument("--clip-seconds", type=float, default=15.0, help="length of each clip (default: 15)")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="chunk length (default: automatic)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        rows, ray_start = asyncio.run(measure(args, Path(tmp)))
    print(f"machine: {machine_description()}; model {args.model}, size {args.size}, x264 veryfast; "
          f"Ray {__import__('ray').__version__} local, {args.cpus} CPUs, started in {ray_start:.1f} s; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"ray_start_seconds": ray_start, "rows": [asdict(r) for r in rows]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

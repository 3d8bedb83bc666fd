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

``--worker-rate`` measures instead where a worker's own rate goes: one clip (``--seconds``) sent
as one chunk, so every row stylizes the same frames, each row run ``--repeat`` times (the best
shown):

* single-process ``convert``;
* the engine alone on frames decoded beforehand (inference's own bound);
* a worker's chunk path (:func:`~streamer.cluster.worker.stylize_chunk`: the chunk read from
  memory, the worker's engine and encoder) in this process;
* the same as a Ray task, on a local instance started with Ray's defaults (workers at niceness
  15) and on the private instance ``--ray`` starts
  (:func:`~streamer.cluster.connect.private_instance_options`): the worker's own time and the
  task's round trip.

``--busy 0,2`` measures it all once without, then with 2, CPU-bound processes at niceness 10
(other work at a lower priority, such as test runs); this process keeps its own niceness.

    python benchmarks/ray_bench.py --worker-rate --seconds 6 --repeat 2 --busy 0,2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.bench import machine_description  # noqa: E402
from streamer.cluster import ClusterOptions, ClusterStats, run_cluster_jobs  # noqa: E402
from streamer.cluster.chunks import ChunkInput, chunk_inputs, plan_video  # noqa: E402
from streamer.cluster.connect import Cluster, import_ray, private_instance_options  # noqa: E402
from streamer.cluster.models import ModelPackage  # noqa: E402
from streamer.cluster.progress import ChunkKey  # noqa: E402
from streamer.cluster.worker import ChunkTask, EncoderSpec, run_chunk, stylize_chunk  # noqa: E402
from streamer.config import Backend, ProcessingSize, QueuePolicy  # noqa: E402
from streamer.convert import plan_jobs, run_jobs  # noqa: E402
from streamer.engine import Engine  # noqa: E402
from streamer.frames import Frame  # noqa: E402
from streamer.inference.backends import BackendOptions  # noqa: E402
from streamer.sinks.file import EncoderSettings  # noqa: E402
from streamer.sources.media import MediaReader  # noqa: E402
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


def keyframed_clip(path: Path, seconds: float) -> Path:
    """A generated 640x360 clip at :data:`FPS` with audio and a keyframe every 2 s."""
    keyframes = {"g": str(2 * FPS), "keyint_min": str(2 * FPS), "sc_threshold": "0"}
    return write_clip(path, int(seconds * FPS), 640, 360, FPS, video_options=keyframes)


def make_inputs(folder: Path, long_seconds: float, clips: int, clip_seconds: float) -> dict[str, list[str]]:
    folder.mkdir(parents=True)
    long = keyframed_clip(folder / "long.mp4", long_seconds)
    many = folder / "clips"
    many.mkdir()
    for i in range(clips):
        keyframed_clip(many / f"clip{i}.mp4", clip_seconds)
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


@dataclass
class RateRow:
    """One row of ``--worker-rate``."""


    path: str
    frames: int
    seconds: float
    note: str = ""
    cpu_seconds: float | None = None  #: CPU time of this process over the best run (all threads)


def worker_niceness() -> int:
    """This process's niceness (what a Ray task sees of its worker)."""
    return os.nice(0)


async def decoded_frames(source: Path) -> list[Frame]:
    frames = []
    with MediaReader(source) as reader:
        reader.open()
        reader.start()
        async for item in reader.items():
            if isinstance(item, Frame):
                frames.append(item)
    return frames


async def stylize_only(engine: Engine, frames: list[Frame], recipe: StyleRecipe, size: ProcessingSize) -> float:
    stream = engine.open_stream("bench", QueuePolicy.LOSSLESS, capacity=3, size=size, upscale=False)
    try:
        await stream.set_style(recipe)
        started = time.perf_counter()
        futures = [await stream.submit(frame) for frame in frames]
        for future in futures:
            await asyncio.wrap_future(future)
        return time.perf_counter() - started
    finally:
        stream.close()


async def measure_worker_rate(args: argparse.Namespace, work: Path) -> tuple[list[RateRow], str]:
    """A worker's chunk path against single-process convert on the same frames (``--worker-rate``)."""
    source = keyframed_clip(work / "in.mp4", args.seconds)
    size, recipe = ProcessingSize.parse(args.size), StyleRecipe.of(args.style)
    driver = Engine.create(args.model, BackendOptions(Backend.CPU, args.cpus))
    await driver.start()
    backend = ClusterOptions(cpus_per_worker=args.cpus).worker_backend(BackendOptions(Backend.CPU), driver.report)
    worker = Engine.create(ModelPackage.of(driver.model_set).install(work / "models"), backend, max_batch=1,
                           use_disk_cache=False)
    await worker.start()
    rows: list[RateRow] = []
    try:
        embeddings = {name: await driver.styles.embedding(name) for name in recipe.styles}
        plan = plan_video(source, 10 * args.seconds)  # one chunk: the whole clip
        chunks = chunk_inputs(plan)
        try:
            [chunk] = [c async for c in chunks]
        finally:
            await chunks.aclose()
        frames = plan.packets
        info = plan.info
        spec = EncoderSpec("out.mp4", info.width, info.height, info.time_base, info.rate, EncoderSettings(),
                           threads=backend.threads)
        task = ChunkTask(ChunkKey(1, 0, 0), recipe, embeddings, size, spec, backend)

        async def best(run: Any) -> tuple[float, float]:
            """The best wall time of ``run`` and this process's CPU time during that run."""
            times = []
            for _ in range(args.repeat):
                cpu = time.process_time()
                wall = await run()
                times.append((wall, time.process_time() - cpu))
            return min(times)

        async def single() -> float:
            out = work / f"single{time.monotonic_ns()}.mp4"
            started = time.perf_counter()
            [outcome] = await run_jobs(driver, plan_jobs([str(source)], str(out), "bench"), recipe, size,
                                       EncoderSettings())
            assert outcome.ok, outcome.error
            return time.perf_counter() - started

        async def chunk_here() -> float:
            return (await stylize_chunk(worker, task, chunk)).seconds

        await single()  # warm-up (first inference calls)
        wall, cpu = await best(single)
        rows.append(RateRow("single-process convert", frames, wall, driver.report.summary, cpu))
        decoded = await decoded_frames(source)
        wall, cpu = await best(lambda: stylize_only(driver, decoded, recipe, size))
        rows.append(RateRow("engine alone (frames decoded beforehand)", frames, wall, "", cpu))
        await chunk_here()
        wall, cpu = await best(chunk_here)
        rows.append(RateRow("worker path in this process", frames, wall, worker.report.summary, cpu))
        if not args.no_ray:
            rows.extend(await asyncio.to_thread(on_ray, args, task, chunk, driver))
    finally:
        await worker.stop()
        await driver.stop()
    return rows, f"{args.seconds:g} s clip, {frames} frames, one chunk"


def on_ray(args: argparse.Namespace, task: ChunkTask, chunk: ChunkInput, driver: Engine) -> list[RateRow]:
    """The chunk as a Ray task: on a local instance with Ray's defaults, and on ``--ray``'s own."""
    ray = import_ray(loopback=True)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    rows = []
    frames = chunk.frames or 0
    for label in ("local instance with Ray's defaults", "--ray's private instance"):
        options = private_instance_options(args.cpus)
        if label.endswith("defaults"):
            del options["_system_config"]  # Ray's own worker niceness
        ray.init(**options, log_to_driver=False, logging_level=logging.ERROR)
        cluster = Cluster(ray, owned=True, local=True)
        try:
            model = ray.put(ModelPackage.of(driver.model_set))
            remote = ray.remote(run_chunk).options(num_cpus=args.cpus)
            nice = ray.get(ray.remote(worker_niceness).options(num_cpus=args.cpus).remote())
            ray.get(remote.remote(task, chunk, model, None))  # warm the worker's engine
            runs = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = ray.get(remote.remote(task, chunk, model, None))
                runs.append((result.seconds, time.perf_counter() - started))
            worker_s, trip_s = min(runs)
            rows.append(RateRow(f"Ray task, {label} (worker niceness {nice})", frames, worker_s,
                            f"round trip {trip_s:.2f} s"))
        finally:
            cluster.close()
    return rows


def rate_table(rows: list[RateRow]) -> str:
    lines = ["| path | frames | seconds | fps | CPU ms/frame | note |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        cpu = "–" if r.cpu_seconds is None else f"{1000 * r.cpu_seconds / r.frames:.1f}"
        lines.append(f"| {r.path} | {r.frames} | {r.seconds:.2f} | {r.frames / r.seconds:.1f} | {cpu} | {r.note} |")
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
    rate = parser.add_argument_group("--worker-rate", "a worker's own rate against single-process convert")
    rate.add_argument("--worker-rate", action="store_true", help="measure that instead")
    rate.add_argument("--seconds", type=float, default=8.0, help="length of the clip (default: 8)")
    rate.add_argument("--repeat", type=int, default=2, help="runs per row, the best shown (default: 2)")
    rate.add_argument("--busy", default="0", help="CPU-bound processes at niceness 10 meanwhile; a comma-separated "
                                                  "list measures each (default: 0)")
    rate.add_argument("--no-ray", action="store_true", help="only the rows in this process")
    args = parser.parse_args()
    if args.worker_rate:
        return worker_rate_main(args)
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


def worker_rate_main(args: argparse.Namespace) -> int:
    """``--worker-rate``: one table per ``--busy`` setting."""
    for count in (int(n) for n in args.busy.split(",")):
        load_before = os.getloadavg()[0]
        busy = [subprocess.Popen(["nice", "-n", "10", sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
        try:
            with tempfile.TemporaryDirectory(prefix="ray-worker-rate-") as tmp:
                rows, what = asyncio.run(measure_worker_rate(args, Path(tmp)))
        finally:
            for process in busy:
                process.kill()
                process.wait()
        meanwhile = f"{count} CPU-bound processes at niceness 10 meanwhile" if count else "nothing else started"
        print(f"machine: {machine_description()}; model {args.model}, size {args.size}, x264 veryfast, {args.cpus} "
              f"CPUs; {what}; {meanwhile}, this process at niceness {os.nice(0)}; load average "
              f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
        print(rate_table(rows), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a Ray worker's rate goes: the same frames through single-process ``convert`` and through
a worker's chunk path, in this process and on Ray.

Input (generated): one clip, 640x360 at 25 fps with a keyframe every 2 s, converted whole as one
chunk (so every row stylizes the same frames). Rows, each run ``--repeat`` times (the best shown):

* single-process ``convert`` (one engine, reader/inference/writer threads);
* the engine alone on frames decoded beforehand (inference's own bound);
* a worker's chunk path (:func:`~streamer.cluster.worker.stylize_chunk`: the chunk read from
  memory, the worker's engine and encoder) in this process;
* the same as a Ray task, on a local instance started with Ray's defaults (workers at niceness
  15) and on the private instance ``--ray`` starts
  (:func:`~streamer.cluster.connect.private_instance_options`):
  the worker's own time (decode + stylize + encode) and the task's round trip.

``--busy 0,2`` measures it all once without, then with 2, CPU-bound processes at niceness 10
(other work at a lower priority, such as test runs); this process keeps its own niceness.
Prints a markdown table per setting.

    python benchmarks/ray_worker_rate.py --seconds 8 --repeat 2 --busy 0,2
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.bench import machine_description  # noqa: E402
from streamer.cluster import ClusterOptions  # noqa: E402
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


async def measure(args: argparse.Namespace, work: Path) -> tuple[list[Row], str]:
    source = write_clip(work / "in.mp4", int(args.seconds * FPS), 640, 360, FPS,
                        video_options={"g": str(2 * FPS), "keyint_min": str(2 * FPS), "sc_threshold": "0"})
    size, recipe = ProcessingSize.parse(args.size), StyleRecipe.of(args.style)
    driver = Engine.create(args.model, BackendOptions(Backend.CPU, args.cpus))
    await driver.start()
    backend = ClusterOptions(cpus_per_worker=args.cpus).worker_backend(BackendOptions(Backend.CPU), driver.report)
    worker = Engine.create(ModelPackage.of(driver.model_set).install(work / "models"), backend, max_batch=1,
                           use_disk_cache=False)
    await worker.start()
    rows: list[Row] = []
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
        rows.append(Row("single-process convert", frames, wall, driver.report.summary, cpu))
        decoded = await decoded_frames(source)
        wall, cpu = await best(lambda: stylize_only(driver, decoded, recipe, size))
        rows.append(Row("engine alone (frames decoded beforehand)", frames, wall, "", cpu))
        await chunk_here()
        wall, cpu = await best(chunk_here)
        rows.append(Row("worker path in this process", frames, wall, worker.report.summary, cpu))
        if not args.no_ray:
            rows.extend(await asyncio.to_thread(on_ray, args, task, chunk, driver))
    finally:
        await worker.stop()
        await driver.stop()
    return rows, f"{args.seconds:g} s clip, {frames} frames, one chunk"


def on_ray(args: argparse.Namespace, task: ChunkTask, chunk: ChunkInput, driver: Engine) -> list[Row]:
    """The chunk as a Ray task: on a local instance with Ray's defaults, and on ``--ray``'s own."""
    ray = import_ray(loopback=True)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    rows = []
    frames = chunk.frames or 0
    for label in ("local instance with Ray's defaults", "--ray's private instance"):
        if label.endswith("defaults"):
            ray.init(num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                     logging_level=logging.ERROR)
            cluster = Cluster(ray, owned=True, local=True)
        else:
            ray.init(**private_instance_options(args.cpus), log_to_driver=False, logging_level=logging.ERROR)
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
            rows.append(Row(f"Ray task, {label} (worker niceness {nice})", frames, worker_s,
                            f"round trip {trip_s:.2f} s"))
        finally:
            cluster.close()
    return rows


def table(rows: list[Row]) -> str:
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
    parser.add_argument("--cpus", type=int, default=2, help="inference threads, and the Ray CPUs of the worker "
                                                            "(default: 2)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the clip (default: 8)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per row, the best shown (default: 2)")
    parser.add_argument("--no-ray", action="store_true", help="only the rows in this process")
    parser.add_argument("--busy", default="0", help="CPU-bound processes at niceness 10 meanwhile; a comma-separated "
                                                      "list measures each (default: 0)")
    args = parser.parse_args()
    for count in (int(n) for n in args.busy.split(",")):
        load_before = os.getloadavg()[0]
        busy = [subprocess.Popen(["nice", "-n", "10", sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
        try:
            with tempfile.TemporaryDirectory(prefix="ray-worker-rate-") as tmp:
                rows, what = asyncio.run(measure(args, Path(tmp)))
        finally:
            for process in busy:
                process.kill()
                process.wait()
        meanwhile = f"{count} CPU-bound processes at niceness 10 meanwhile" if count else "nothing else started"
        print(f"machine: {machine_description()}; model {args.model}, size {args.size}, x264 veryfast, {args.cpus} "
              f"CPUs; {what}; {meanwhile}, this process at niceness {os.nice(0)}; load average "
              f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
        print(table(rows), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

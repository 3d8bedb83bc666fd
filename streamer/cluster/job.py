"""Converting many files on a Ray cluster: chunks out to workers, joined files back in order.

The driver (this process) plans each video, computes its style embedding once, sends the
chunks to Ray tasks (retried by Ray if their worker dies) and joins the results into the
destination as they arrive; still images are stylized by the driver's own engine meanwhile.
A bounded window of chunks in flight keeps memory flat however long the inputs are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..config import Backend, CpuPrecision, Precision, ProcessingSize
from ..convert.batch import FileOutcome, Progress, recording_failure, run_jobs
from ..convert.plan import Job
from ..engine import Engine
from ..errors import ClusterError, ConfigError, DecodeError, StreamerError
from ..inference.backends import BackendOptions, BackendReport
from ..sinks.file import EncoderSettings
from ..styles import StyleRecipe
from .chunks import VideoPlan, chunk_inputs, plan_video
from .connect import Cluster, connect
from .join import ChunkJoiner
from .models import ModelPackage
from .progress import ChunkKey, FrameCounter
from .worker import ChunkDecodeError, ChunkTask, EncodedChunk, EncoderSpec, run_chunk

__all__ = ["ClusterOptions", "ClusterStats", "run_cluster_jobs"]

logger = logging.getLogger(__name__)

#: seconds between progress polls of the frame counter
POLL_EVERY = 0.25


@dataclass(frozen=True)
class ClusterOptions:
    """``--ray`` and its companions.

    :param address: None: a private local Ray instance; else ``auto``, ``ray://host:port``...
    :param chunk_seconds: chunk length; None: chosen from the cluster size; 0: whole files.
    """

    address: str | None = None
    chunk_seconds: float | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    retries: int = 3  #: times Ray reruns a chunk whose worker died
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ConfigError("--ray-cpus-per-worker must be above 0 and --ray-gpus-per-worker not below 0")
        if self.chunk_seconds is not None and self.chunk_seconds < 0:
            raise ConfigError("--chunk-seconds must not be negative")

    def worker_backend(self, requested: BackendOptions, driver: BackendReport | None = None) -> BackendOptions:
        """What workers run: as many inference threads as CPUs they hold, the GPU only if they
        hold one, and on the CPU one precision for every chunk (the one asked, else the one the
        driver's engine measured faster, else float), so chunks from different machines match."""
        backend = requested.backend
        if self.gpus_per_worker == 0 and backend is Backend.AUTO:
            backend = Backend.CPU
        precision = requested.precision
        if precision is CpuPrecision.AUTO:  # the driver's measured choice; float if it measured none
            measured = driver is not None and driver.backend is Backend.CPU and driver.precision is Precision.INT8
            precision = CpuPrecision.INT8 if measured else CpuPrecision.FLOAT
        return replace(requested, backend=backend, threads=max(1, math.ceil(self.cpus_per_worker)),
                       precision=precision)


@dataclass
class ClusterStats:
    """Where a cluster conversion spent its time, and what travelled (for benchmarks and ``-v``)."""

    chunks: int = 0
    frames: int = 0
    worker_seconds: float = 0.0  #: decode + stylize + encode, summed over chunks (on the workers)
    plan_seconds: float = 0.0  #: driver: reading the packets to choose the cuts
    pack_seconds: float = 0.0  #: driver: reading each chunk's packets into its transport file
    join_seconds: float = 0.0  #: driver: opening, appending and finishing the outputs
    sent_bytes: int = 0  #: chunk inputs (compressed source video)
    received_bytes: int = 0  #: encoded chunks

    def summary(self) -> str:
        """One line for the log."""
        per = max(self.chunks, 1)
        driver = (self.pack_seconds + self.join_seconds) / per
        return (f"{self.chunks} chunks, {self.frames} frames; per chunk: worker {self.worker_seconds / per:.2f} s, "
                f"driver {driver:.3f} s, sent {self.sent_bytes / per / 1e3:.0f} kB, "
                f"received {self.received_bytes / per / 1e3:.0f} kB; planning {self.plan_seconds:.2f} s")


async def run_cluster_jobs(
    engine: Engine,
    jobs: list[Job],
    recipe: StyleRecipe,
    size: ProcessingSize,
    settings: EncoderSettings | None,
    backend: BackendOptions,
    options: ClusterOptions,
    progress: Progress | None = None,
    keep_going: bool = True,
    notify: Callable[[str], None] | None = None,
    stats: ClusterStats | None = None,
    video_stream: int | None = None,
) -> list[FileOutcome]:
    """Convert ``jobs`` on Ray; outcomes in the order of ``jobs``.

    ``engine`` (started) embeds the styles and stylizes still images here; ``notify`` gets
    one line per worker backend seen; ``stats`` (if given) is filled in; ``video_stream`` as
    for :func:`~streamer.convert.batch.run_jobs`. A damaged input is converted as far as it
    decodes and its outcome says how (``damage``), as without Ray. Cancellation (Ctrl-C)
    cancels every chunk and leaves no output but the files already finished.
    """
    cluster = await asyncio.to_thread(connect, options.address, options.verbose)
    try:
        cluster.check_fits(options.cpus_per_worker, options.gpus_per_worker)
        run = _ClusterRun(cluster, engine, recipe, size, settings or EncoderSettings(), backend, options,
                          progress or Progress(), notify or (lambda line: None), stats or ClusterStats(),
                          video_stream)
        try:
            return await run.all(jobs, keep_going)
        finally:
            logger.info("cluster: %s", run.stats.summary())
    finally:
        await asyncio.shield(asyncio.to_thread(cluster.close))


class _ClusterRun:
    """One conversion job's state on the driver."""

    def __init__(self, cluster: Cluster, engine: Engine, recipe: StyleRecipe, size: ProcessingSize,
                 settings: EncoderSettings, backend: BackendOptions, options: ClusterOptions, progress: Progress,
                 notify: Callable[[str], None], stats: ClusterStats, video_stream: int | None) -> None:
        ray = cluster.ray
        self.stats = stats
        self.ray = ray
        self.engine, self.recipe, self.size, self.settings = engine, recipe, size, settings
        self.options, self.progress, self.notify = options, progress, notify
        self.video_stream = video_stream
        self.backend = options.worker_backend(backend, engine.report)
        self.slots = cluster.slots(options.cpus_per_worker, options.gpus_per_worker)
        self.window = asyncio.Semaphore(2 * self.slots)  # chunks submitted and not yet joined
        self.active_files = asyncio.Semaphore(2 * self.slots)
        self.model = ray.put(ModelPackage.of(engine.model_set))
        self.counter = ray.remote(FrameCounter).options(num_cpus=0).remote()
        self.task = ray.remote(run_chunk).options(
            num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker, max_retries=options.retries,
            retry_exceptions=False)
        self._embeddings: dict[str, np.ndarray] | None = None
        self._reported: set[str] = set()
        self._files = 0  # videos started: each one's number in the progress keys
        self._shown = 0  # frames already passed to the progress display

    async def all(self, jobs: list[Job], keep_going: bool) -> list[FileOutcome]:
        videos = [j for j in jobs if not j.is_image]
        images = [j for j in jobs if j.is_image]
        poller = asyncio.create_task(self._poll_progress())
        tasks: list[asyncio.Task[FileOutcome | list[FileOutcome]]] = [
            asyncio.create_task(self._video(job, len(videos), keep_going)) for job in videos]
        if images:
            tasks.append(asyncio.create_task(run_jobs(self.engine, images, self.recipe, self.size, self.settings,
                                                      self.progress, keep_going, self.video_stream)))
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()  # the first failure (with --stop-on-error) is the command's error
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            poller.cancel()
            # not `await poller` under suppress(CancelledError): that would also swallow a Ctrl-C
            # arriving now (this task's own cancellation) and the command would end as if done
            await asyncio.wait([poller])
            with contextlib.suppress(Exception):
                await self._advance_progress()
        found: dict[Job, FileOutcome] = {}
        for task in tasks:
            result = task.result()
            for outcome in result if isinstance(result, list) else [result]:
                found[outcome.job] = outcome
        return [found[job] for job in jobs]

    # -- one video ------------------------------------------------------------------------
    async def _video(self, job: Job, files: int, keep_going: bool) -> FileOutcome:
        outcome = FileOutcome(job, ok=False)
        self._files += 1
        number = self._files
        async with self.active_files:
            started = time.perf_counter()
            with recording_failure(outcome, self.progress, keep_going):
                # at strength below 1 the content's own embedding follows the whole file: not cut
                seconds = 0.0 if self.recipe.needs_content else self.options.chunk_seconds
                with self._timed("plan_seconds"):
                    plan = await asyncio.to_thread(plan_video, job.source, seconds, files, self.slots,
                                                   self.video_stream)
                if plan.why_whole:
                    logger.info("%s: sent to one worker whole: %s", job.source.name, plan.why_whole)
                self.progress.start_file(job, plan.info)
                embeddings = await self._style_embeddings()
                try:
                    last, frames, notices = await self._file(job, plan, embeddings, ChunkKey(number, 0, 0))
                except ChunkDecodeError as exc:  # read it whole, as without Ray
                    logger.info("%s: sent to one worker whole: %s", job.source.name, exc)
                    last, frames, notices = await self._file(job, plan.whole(str(exc)), embeddings,
                                                             ChunkKey(number, 1, 0))
                info = plan.info
                cap = self.size.cap_note(info.height, info.width, self.engine.model_set.size_multiple)
                outcome.notices = [*plan.notices, *([cap] if cap else []), *notices]
                if last.repaired:
                    outcome.notices.append(f"{last.repaired} missing or out-of-order frame timestamps replaced")
                outcome.ok, outcome.frames, outcome.damage = True, frames, last.damage
            outcome.seconds = time.perf_counter() - started
        for notice in outcome.notices:
            logger.warning("%s: %s", job.source.name, notice)
        if outcome.damage:
            logger.warning("%s: %s", job.source.name, outcome.damage)
        self.progress.end_file(outcome)
        return outcome

    async def _file(self, job: Job, plan: VideoPlan, embeddings: dict[str, np.ndarray],
                    attempt: ChunkKey) -> tuple[EncodedChunk, int, list[str]]:
        """Convert one file as ``plan`` cuts it (progress keys: ``attempt``'s file and attempt): its
        last chunk, frames written, the writer's notices."""
        joiner = ChunkJoiner(job.source, job.destination, plan.info, self.settings, plan.info.stream_index)
        with self._timed("join_seconds"):
            await joiner.open()
        try:
            last = await self._chunks(job, plan, embeddings, joiner, attempt)
            with self._timed("join_seconds"):
                await joiner.finish(last.end_pts)
        except BaseException:
            await asyncio.shield(joiner.abort())
            raise
        return last, joiner.frames, joiner.notices

    async def _chunks(self, job: Job, plan: VideoPlan, embeddings: dict[str, np.ndarray],
                      joiner: ChunkJoiner, attempt: ChunkKey) -> EncodedChunk:
        """Submit the chunks of ``plan`` (within the window) and join their results in order; the last one."""
        info = plan.info
        encoder = EncoderSpec(job.destination.name, info.width, info.height, info.time_base, info.rate,
                              self.settings, threads=max(1, math.ceil(self.options.cpus_per_worker)))
        submitted: asyncio.Queue[Any] = asyncio.Queue()
        in_flight: list[Any] = []

        async def submit() -> None:
            inputs = chunk_inputs(plan)
            try:
                while True:
                    with self._timed("pack_seconds"):
                        chunk = await anext(inputs, None)
                    if chunk is None:
                        break
                    self.stats.sent_bytes += len(chunk.data)
                    await self.window.acquire()
                    task = ChunkTask(attempt._replace(chunk=chunk.index), self.recipe, embeddings, self.size, encoder,
                                     self.backend)
                    ref = self.task.remote(task, chunk, self.model, self.counter)
                    in_flight.append(ref)
                    submitted.put_nowait((ref, task.key))
            finally:
                await inputs.aclose()
                submitted.put_nowait(None)

        producer = asyncio.create_task(submit())
        last: EncodedChunk | None = None
        try:
            while (item := await submitted.get()) is not None:
                ref, key = item
                result = await self._result(job, ref)
                # the worker's own last report may still be on its way: the final count comes from here
                self.counter.report.remote(key, result.frames)
                self._report_backend(result)
                self.stats.chunks += 1
                self.stats.frames += result.frames
                self.stats.worker_seconds += result.seconds
                self.stats.received_bytes += sum(len(p.data) for p in result.packets)
                with self._timed("join_seconds"):
                    await joiner.append(result)
                last = result
                in_flight.remove(ref)
                self.window.release()
            await producer
        except BaseException:
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
            for ref in in_flight:  # force: stop the worker mid-chunk, and do not retry
                self.ray.cancel(ref, force=True)
                self.window.release()
            raise
        if last is None:
            raise DecodeError(f"{job.source.name} has no video packets")
        return last

    async def _result(self, job: Job, ref: Any) -> EncodedChunk:
        """Wait for one chunk; Ray's errors become streamer's one-line errors."""
        exceptions = self.ray.exceptions
        try:
            result: EncodedChunk = await ref
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, StreamerError):
                raise type(cause)(str(cause)) from exc
            raise ClusterError(f"{job.source.name}: a worker failed: {cause or exc}") from exc
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError) as exc:
            raise ClusterError(f"{job.source.name}: a chunk's worker died {self.options.retries + 1} times "
                               f"({type(exc).__name__})") from exc
        except exceptions.RayError as exc:
            raise ClusterError(f"{job.source.name}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        return result

    async def _style_embeddings(self) -> dict[str, np.ndarray]:
        """The embedding of each style the recipe names, computed once for the whole run."""
        if self._embeddings is None:
            self._embeddings = {name: await self.engine.styles.embedding(name) for name in self.recipe.styles}
        return self._embeddings

    @contextlib.contextmanager
    def _timed(self, field: str) -> Iterator[None]:
        """Add the block's wall time to ``stats.<field>``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            setattr(self.stats, field, getattr(self.stats, field) + time.perf_counter() - started)

    def _report_backend(self, result: EncodedChunk) -> None:
        host = result.worker.split(" pid ")[0]
        line = f"worker {host}: {result.backend}"
        if line not in self._reported:
            self._reported.add(line)
            self.notify(line)

    # -- progress -------------------------------------------------------------------------
    async def _advance_progress(self) -> None:
        total = await self.counter.total.remote()
        if total > self._shown:
            self.progress.advance(total - self._shown)
            self._shown = total

    async def _poll_progress(self) -> None:
        """Show the frames done every :data:`POLL_EVERY` seconds; without the counter, say so and stop."""
        while True:
            await asyncio.sleep(POLL_EVERY)
            try:
                await self._advance_progress()
            except self.ray.exceptions.RayError as exc:  # the conversion goes on; only the bar stops
                logger.warning("progress is not shown any more: %s", type(exc).__name__)
                return

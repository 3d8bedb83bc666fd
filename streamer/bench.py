"""Benchmarks behind ``streamer bench``: transform speed per model x backend x size, predictor
speed, and end-to-end conversion against bare inference and a naive one-thread loop.

Figures are medians of repeated runs in one process, so the ratios compare like with like on
a noisy machine; nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import functools
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .config import Backend, CpuPrecision, ProcessingSize
from .convert.video import convert_video
from .engine import Engine
from .errors import BackendUnavailableError, StreamerError
from .frames import Frame
from .inference.backends import BackendOptions, open_transform
from .inference.catalog import ModelSet
from .inference.imaging import style_input
from .inference.modelfile import EMBEDDING_DIM, PredictorModel
from .inference.precision import label, open_cpu_transform
from .inference.runners import PredictorRunner, TransformRunner
from .inference.stylizer import Stylizer
from .inference.worker import InferenceWorker
from .sinks.file import EncoderSettings, MediaWriter
from .sources.media import MediaReader
from .styles import BuiltinStyle, StyleRecipe

__all__ = ["PipelineResult", "TransformResult", "bench_cpu_precisions", "bench_pipeline", "bench_predictor",
           "bench_transform", "machine_description", "time_call"]

SIZES = ((384, 384), (480, 640), (720, 1280))


def machine_description() -> str:
    """CPU model, usable cores, OS and Python version, for benchmark headers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def time_call(fn: Callable[[], object], min_seconds: float = 1.5, min_runs: int = 5, warmup: int = 2) -> float:
    """Median seconds per call of ``fn`` over at least ``min_runs`` calls and ``min_seconds``."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
        if len(samples) >= 200:
            break
    return statistics.median(samples)


@dataclass(frozen=True)
class TransformResult:
    """One model x backend x size measurement (``ms`` is None when the backend is unavailable)."""

    model: str
    backend: str
    size: tuple[int, int]
    ms: float | None
    note: str = ""

    @property
    def fps(self) -> float | None:
        """Frames per second from ``ms``."""
        return 1000.0 / self.ms if self.ms else None


def bench_transform(model_set: ModelSet, backend: Backend, threads: int,
                    sizes: tuple[tuple[int, int], ...] = SIZES, min_seconds: float = 1.5) -> list[TransformResult]:
    """Invoke-only time of the transform (input already scaled to [0, 1])."""
    options = BackendOptions(backend, threads)
    try:
        runner, report = open_transform(model_set, options)
    except (BackendUnavailableError, StreamerError) as exc:
        return [TransformResult(model_set.name, backend.value, s, None, str(exc)) for s in sizes]
    label = f"{report.backend.value} {report.precision.value}"
    rng = np.random.default_rng(0)
    style = rng.random((1, EMBEDDING_DIM), dtype=np.float32)
    results = []
    try:
        for h, w in sizes:
            content = rng.random((1, h, w, 3), dtype=np.float32)
            ms = 1000 * time_call(functools.partial(runner.run, content, style), min_seconds)
            results.append(TransformResult(model_set.name, label, (h, w), ms, report.detail))
    finally:
        runner.close()
    return results


def bench_cpu_precisions(model_set: ModelSet, threads: int, sizes: tuple[tuple[int, int], ...] = SIZES,
                         min_seconds: float = 1.5, rounds: int = 5) -> list[TransformResult]:
    """Invoke-only time of the int8 and the float transform on the CPU, in one run.

    For each size the two alternate for ``rounds`` rounds (each round times both), and each
    figure is the median of its rounds, so load from elsewhere falls on both alike.
    """
    runners: dict[str, TransformRunner] = {}
    results: list[TransformResult] = []
    for asked in (CpuPrecision.INT8, CpuPrecision.FLOAT):
        try:
            cpu, choice = open_cpu_transform(model_set, threads, asked)
            runners[f"cpu {label(choice.precision)}"] = cpu
        except StreamerError as exc:
            results.extend(TransformResult(model_set.name, f"cpu {asked.value}", s, None, str(exc)) for s in sizes)
    rng = np.random.default_rng(0)
    style = rng.random((1, EMBEDDING_DIM), dtype=np.float32)
    detail = f"XNNPACK, {threads} threads"
    try:
        for h, w in sizes:
            content = rng.random((1, h, w, 3), dtype=np.float32)
            per_round: dict[str, list[float]] = {name: [] for name in runners}
            for i in range(rounds):
                for name, timed in runners.items():
                    seconds = time_call(functools.partial(timed.run, content, style), min_seconds / rounds,
                                        min_runs=3, warmup=2 if i == 0 else 0)
                    per_round[name].append(1000 * seconds)
            results.extend(TransformResult(model_set.name, name, (h, w), statistics.median(ms), detail)
                           for name, ms in per_round.items())
    finally:
        for opened in runners.values():
            opened.close()
    return results


def bench_predictor(model_set: ModelSet, threads: int, min_seconds: float = 1.0) -> float | None:
    """Milliseconds per style prediction (256x256), or None without a predictor."""
    if model_set.predictor is None:
        return None
    runner = PredictorRunner(PredictorModel.load(model_set.predictor), threads)
    batch = style_input(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    try:
        return 1000 * time_call(lambda: runner.predict(batch), min_seconds)
    finally:
        runner.close()


@dataclass(frozen=True)
class PipelineResult:
    """Conversion of one clip three ways, in one run."""

    model: str
    clip: str
    frames: int
    shape: tuple[int, int]  #: processing (height, width)
    preset: str  #: x264 preset used for every encode
    bare_fps: float  #: pre/post-processing + inference alone, frames already decoded
    pipeline_fps: float  #: ``convert`` end to end (decode, inference, encode overlapped)
    naive_fps: float  #: decode -> stylize -> encode in one thread
    io_fps: float  #: decode -> encode through the same reader/writer threads, no inference
    #: decode the clip -> write its frames already stylized (at the processing size, scaled by
    #: the writer as in ``convert``): all of ``convert``'s work but inference. x264 at a given CRF
    #: spends more on painted texture than on the source's frames, so this is the encode cost
    #: ``convert`` really pays
    io_stylized_fps: float

    @property
    def pipeline_vs_bare(self) -> float:
        """Target: at least 0.90."""
        return self.pipeline_fps / self.bare_fps

    @property
    def pipeline_vs_naive(self) -> float:
        """How much the overlapping buys over the naive loop."""
        return self.pipeline_fps / self.naive_fps

    @property
    def shared_core_bound_fps(self) -> float:
        """Best possible ``convert`` fps when inference and decode+encode share the same cores:
        each frame costs the CPU time of both, so ``1 / (1/bare + 1/io)``."""
        return 1.0 / (1.0 / self.bare_fps + 1.0 / self.io_fps)

    @property
    def pipeline_vs_bound(self) -> float:
        """``convert`` fps as a share of :attr:`shared_core_bound_fps` (1.0 = perfect overlap)."""
        return self.pipeline_fps / self.shared_core_bound_fps

    @property
    def stylized_bound_fps(self) -> float:
        """:attr:`shared_core_bound_fps` with the encode cost of the stylized output
        (:attr:`io_stylized_fps`) instead of the source's; shown beside it, for information."""
        return 1.0 / (1.0 / self.bare_fps + 1.0 / self.io_stylized_fps)

    @property
    def pipeline_vs_stylized_bound(self) -> float:
        """``convert`` fps as a share of :attr:`stylized_bound_fps`."""
        return self.pipeline_fps / self.stylized_bound_fps


def _decode_all(clip: Path, limit: int) -> list[Frame]:
    frames = []
    with av.open(str(clip)) as container:
        for i, f in enumerate(container.decode(video=0)):
            if i >= limit:
                break
            frames.append(Frame(f.to_ndarray(format="rgb24"), pts=f.pts, time_base=f.time_base, seq=i))
    return frames


def _naive_convert(stylizer: Stylizer, clip: Path, out: Path, style: np.ndarray, size: ProcessingSize,
                   multiple: int, limit: int, preset: str) -> int:
    """The baseline: one thread decodes, stylizes and encodes each frame in turn."""
    count = 0
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        video = src.streams.video[0]
        stream = dst.add_stream("libx264", rate=video.average_rate or 25,
                                options=EncoderSettings(preset=preset).options("libx264"))
        stream.width, stream.height, stream.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
        stream.codec_context.time_base = video.time_base or Fraction(1, 90000)
        for f in src.decode(video):
            if count >= limit:
                break
            image = f.to_ndarray(format="rgb24")
            shape = size.shape_for(image.shape[0], image.shape[1], multiple)
            stylized = stylizer.stylize([Frame(image)], [style], shape)[0].image
            out_frame = av.VideoFrame.from_ndarray(stylized, format="rgb24")
            out_frame.pts, out_frame.time_base = f.pts, f.time_base
            dst.mux(stream.encode(out_frame))
            count += 1
        dst.mux(stream.encode(None))
    return count


def _trim_clip(clip: Path, out: Path, limit: int) -> Path:
    """The first ``limit`` frames of ``clip`` (video only, re-encoded) so all three runs see the same input."""
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        video = src.streams.video[0]
        stream = dst.add_stream("libx264", rate=video.average_rate or 25)
        stream.width, stream.height, stream.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
        stream.codec_context.time_base = video.time_base or Fraction(1, 90000)
        for i, f in enumerate(src.decode(video)):
            if i >= limit:
                break
            f.pict_type = av.video.frame.PictureType.NONE
            dst.mux(stream.encode(f))
        dst.mux(stream.encode(None))
    return out


async def _io_only(source: Path, out: Path, settings: EncoderSettings, images: list[np.ndarray] | None = None) -> float:
    """Frames per second of decode -> encode alone, through convert's reader and writer; with
    ``images``, the i-th decoded frame is written with ``images[i]`` as its picture."""
    reader = MediaReader(source)
    try:
        info = await asyncio.to_thread(reader.open)
        writer = MediaWriter(out, info.width, info.height, info.time_base, info.rate, (), settings)
        await asyncio.to_thread(writer.open)
        started, count = time.perf_counter(), 0
        reader.start()
        async for item in reader.items():
            if isinstance(item, Frame):
                await writer.write_async(item if images is None else item.with_image(images[count]))
                count += 1
        await asyncio.to_thread(writer.finish)
        return count / (time.perf_counter() - started)
    finally:
        reader.close()


def bench_pipeline(model_set: ModelSet, clip: Path, threads: int, size: ProcessingSize,
                   limit: int = 120, preset: str = "veryfast", rounds: int = 3) -> PipelineResult:
    """Bare inference vs ``convert`` vs a naive loop vs decode+encode alone (of the clip's frames,
    and of its frames already stylized), on the same frames of ``clip``, CPU backend, every encode with x264
    ``preset``.

    The four measurements alternate for ``rounds`` rounds and each keeps its best round, so a
    burst of load from elsewhere on the machine does not decide a ratio.
    """
    settings = EncoderSettings(preset=preset)
    options = BackendOptions(Backend.CPU, threads)
    style = np.random.default_rng(1).random(EMBEDDING_DIM, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="streamer-bench-") as tmp:
        folder = Path(tmp)
        source = _trim_clip(clip, folder / "clip.mp4", limit)
        frames = _decode_all(source, limit)
        shape = size.shape_for(frames[0].height, frames[0].width, model_set.size_multiple)

        stylized: list[np.ndarray] = []  # the frames as convert hands them to its writer

        def bare(stylizer: Stylizer) -> float:
            t = time.perf_counter()
            for frame in frames:
                stylizer.stylize([frame], [style], shape)
            return len(frames) / (time.perf_counter() - t)

        def naive(stylizer: Stylizer) -> float:
            t = time.perf_counter()
            done = _naive_convert(stylizer, source, folder / "naive.mp4", style, size,
                                  model_set.size_multiple, limit, preset)
            return done / (time.perf_counter() - t)

        async def pipeline() -> float:
            engine = Engine(model_set, InferenceWorker(lambda: Stylizer.open(model_set, options)))
            async with engine:
                warm = engine.open_stream("warm-up", size=size)
                await warm.set_style(style)
                await warm.stylize(frames[0])
                warm.close()
                engine.styles.builtins["_bench"] = _builtin(style)
                t = time.perf_counter()
                result = await convert_video(engine, source, folder / "pipeline.mp4", StyleRecipe(("_bench",)),
                                             size, settings)
                return result.frames / (time.perf_counter() - t)

        best = {"bare": 0.0, "convert": 0.0, "naive": 0.0, "io": 0.0, "io_stylized": 0.0}
        for _ in range(max(1, rounds)):
            stylizer = Stylizer.open(model_set, options)
            try:
                stylizer.stylize(frames[:1], [style], shape)  # warm-up: prepare the interpreter
                best["bare"] = max(best["bare"], bare(stylizer))
                if not stylized:
                    stylized.extend(stylizer.stylize([f], [style], shape, [False])[0].image for f in frames)
                best["naive"] = max(best["naive"], naive(stylizer))
            finally:
                stylizer.close()
            best["convert"] = max(best["convert"], asyncio.run(pipeline()))
            best["io"] = max(best["io"], asyncio.run(_io_only(source, folder / "io.mp4", settings)))
            best["io_stylized"] = max(best["io_stylized"], asyncio.run(
                _io_only(source, folder / "io-stylized.mp4", settings, stylized)))
    return PipelineResult(model_set.name, clip.name, len(frames), shape, preset,
                          best["bare"], best["convert"], best["naive"], best["io"], best["io_stylized"])


def _builtin(embedding: np.ndarray) -> BuiltinStyle:
    return BuiltinStyle("_bench", "benchmark style", embedding)


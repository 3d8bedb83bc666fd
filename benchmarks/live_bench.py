"""How the live pipeline keeps up with a 30 fps, 640x480 source: fps, inference, latency, drops.

The source is a 640x480 clip at 30 fps played in real time and looped (a generated scene, or
``--clip``), exactly as ``streamer live -i clip.mp4 --loop`` reads it. Frames go through the
whole live path (capture thread -> drop-oldest engine queue -> fan-out) into a sink that only
measures. Per model and processing size, after a warm-up:

* output fps, and inference ms per frame (the inference thread's busy time / frames);
* capture -> output latency p50/p95 (from the moment a frame is released by the source to the
  moment its stylized version reaches the sinks);
* added latency p50/p95: each frame's latency minus its own inference time, i.e. what the
  pipeline adds on top of the model: waiting for the inference thread, resizing, fan-out
  (target at p95: at most one frame interval, 33 ms);
* frames dropped (newest-wins policy), as a share of the frames captured.

Prints a markdown table.

    python benchmarks/live_bench.py --model fast --model magenta --size 480 --size 384 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.bench import machine_description  # noqa: E402
from streamer.config import Backend, ProcessingSize  # noqa: E402
from streamer.engine import Engine  # noqa: E402
from streamer.frames import Frame  # noqa: E402
from streamer.inference.backends import BackendOptions, default_threads  # noqa: E402
from streamer.inference.catalog import find_model_set  # noqa: E402
from streamer.inference.stylizer import Stylizer  # noqa: E402
from streamer.inference.worker import InferenceWorker  # noqa: E402
from streamer.live import LiveSession, LiveSettings  # noqa: E402
from streamer.sinks.base import Sink  # noqa: E402
from streamer.sources.base import SourceInfo  # noqa: E402
from streamer.sources.stream import StreamSource  # noqa: E402
from streamer.sources.synthetic import write_clip  # noqa: E402
from streamer.styles import StyleRecipe  # noqa: E402

FPS = 30


class TimedStylizer:
    """The engine's stylizer, noting when each frame's inference started and ended."""

    def __init__(self, inner: Stylizer) -> None:
        self.inner = inner
        self.report = inner.report
        self.times: dict[int, tuple[float, float]] = {}  # frame seq -> (start, end)

    def stylize(self, frames: list[Frame], styles: list[Any], shape: tuple[int, int]) -> list[Frame]:
        start = time.monotonic()
        out = self.inner.stylize(frames, styles, shape)
        end = time.monotonic()
        for frame in frames:
            self.times[frame.seq] = (start, end)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class MeasuringSink(Sink):
    """Records when each stylized frame arrives, how old it is, and how long its own inference
    took; keeps nothing else."""

    name = "measure"

    def __init__(self, timed: dict[int, tuple[float, float]]) -> None:
        self.since = float("inf")
        self.latencies: list[float] = []
        self.added: list[float] = []  #: latency minus the frame's own inference time
        self.arrivals: list[float] = []
        self._timed = timed

    def open(self, frame: Frame, source: SourceInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        now = time.monotonic()
        if frame.captured_at >= self.since:
            start, end = self._timed[frame.seq]
            self.latencies.append(now - frame.captured_at)
            self.added.append(now - frame.captured_at - (end - start))
            self.arrivals.append(now)

    def close(self) -> None:
        pass


@dataclass
class Row:
    """One measured configuration."""

    model: str
    backend: str
    size: str
    processing: str
    fps_out: float
    inference_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    added_p50_ms: float
    added_p95_ms: float
    dropped: int
    captured: int

    @property
    def dropped_share(self) -> float:
        return self.dropped / self.captured if self.captured else 0.0


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def measure(model: str, size: ProcessingSize, clip: Path, style: str, seconds: float,
                  warmup: float, threads: int) -> Row:
    """Run one live session on ``clip`` and measure it after ``warmup`` seconds."""
    model_set = find_model_set(model)
    options = BackendOptions(backend=Backend.CPU, threads=threads)
    stylizers: list[TimedStylizer] = []

    def open_timed() -> Stylizer:
        stylizers.append(TimedStylizer(Stylizer.open(model_set, options)))
        return stylizers[-1]  # type: ignore[return-value]

    engine = Engine(model_set, InferenceWorker(open_timed, max_batch=1))
    source = StreamSource(clip, loop=True, realtime=True)
    async with engine:
        sink = MeasuringSink(stylizers[0].times)
        session = LiveSession(engine, source, [sink], StyleRecipe.of(style),
                              settings=LiveSettings(size=size, capacity=1, duration=warmup + seconds))
        task = asyncio.create_task(session.run())
        await asyncio.sleep(warmup)
        sink.since = time.monotonic()
        start = session.snapshot()
        busy, frames = engine.worker.stats.busy_seconds, engine.worker.stats.frames
        await asyncio.sleep(seconds)
        end = session.snapshot()
        busy, frames = engine.worker.stats.busy_seconds - busy, engine.worker.stats.frames - frames
        result = await task
    if result.error is not None:
        raise SystemExit(f"{model} @ {size}: {result.error}")
    inference = busy / frames if frames else float("nan")
    p50, p95 = _percentile(sink.latencies, 50), _percentile(sink.latencies, 95)
    added_p50, added_p95 = _percentile(sink.added, 50), _percentile(sink.added, 95)
    span = sink.arrivals[-1] - sink.arrivals[0] if len(sink.arrivals) > 1 else float("nan")
    shape = size.shape_for(480, 640, model_set.size_multiple)
    return Row(
        model=model, backend=engine.report.detail, size=str(size), processing=f"{shape[1]}x{shape[0]}",
        fps_out=(len(sink.arrivals) - 1) / span if span == span and span > 0 else 0.0,
        inference_ms=inference * 1000, latency_p50_ms=p50 * 1000, latency_p95_ms=p95 * 1000,
        added_p50_ms=added_p50 * 1000, added_p95_ms=added_p95 * 1000,
        dropped=end.dropped - start.dropped, captured=end.frames_in - start.frames_in,
    )


def table(rows: list[Row]) -> str:
    """The markdown table of ``rows``."""
    lines = [
        "| model | processing | output fps | inference ms | latency p50 / p95 ms "
        "| added p50 / p95 ms (target ≤ 33) | dropped |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} ({r.backend}) | {r.processing} | {r.fps_out:.1f} | {r.inference_ms:.0f} "
            f"| {r.latency_p50_ms:.0f} / {r.latency_p95_ms:.0f} | {r.added_p50_ms:.0f} / {r.added_p95_ms:.0f} "
            f"| {r.dropped}/{r.captured} ({r.dropped_share:.0%}) |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model set(s) (default: fast and magenta)")
    parser.add_argument("--size", action="append", help="processing size(s) (default: 480 and 384)")
    parser.add_argument("--style", default=None, help="style (default: the model's first built-in, "
                        "else ../shared's Starry Night)")
    parser.add_argument("--clip", type=Path, help="640x480 30 fps clip (default: a generated scene)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--threads", type=int, default=max(1, default_threads() - 1),
                        help="inference threads (default: as `streamer live`, all cores but one)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()

    clip = args.clip or write_clip(Path(tempfile.mkdtemp(prefix="live-bench-")) / "scene.mp4",
                                   frames=10 * FPS, width=640, height=480, fps=FPS, audio=None)
    rows = []
    for model in args.model or ["fast", "magenta"]:
        model_set = find_model_set(model)
        style = args.style or _default_style(model_set)
        for size in args.size or ["480", "384"]:
            print(f"measuring {model} at {size} ...", file=sys.stderr)
            rows.append(asyncio.run(measure(model, ProcessingSize.parse(size), clip, style,
                                            args.seconds, args.warmup, args.threads)))
    print(f"Live pipeline, 640x480 source at {FPS} fps (paced, looped), {args.seconds:g} s per row; "
          f"{machine_description()}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


def _default_style(model_set: object) -> str:
    from streamer.styles import load_builtin_styles

    builtins = load_builtin_styles(model_set.styles_file)  # type: ignore[attr-defined]
    if builtins:
        return "starry" if "starry" in builtins else sorted(builtins)[0]
    shared = ROOT.parent / "shared" / "media" / "styles" / "pd_starry_night.jpg"
    if not shared.is_file():
        raise SystemExit(f"{model_set}: no built-in style; give --style IMAGE")
    return str(shared)


if __name__ == "__main__":
    sys.exit(main())

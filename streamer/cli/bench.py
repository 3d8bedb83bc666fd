"""``streamer bench``: print speed tables for this machine (markdown, ready for the README)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from ..bench import (
    SIZES,
    PipelineResult,
    TransformResult,
    bench_cpu_precisions,
    bench_pipeline,
    bench_predictor,
    bench_transform,
    machine_description,
)
from ..config import Backend, ProcessingSize
from ..errors import ConfigError, StreamerError
from ..inference.backends import BackendOptions, default_threads, open_transform
from ..inference.catalog import ModelSet, available_model_sets, find_model_set, shared_dir
from ..sources.synthetic import write_clip
from .common import positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamer bench``."""
    parser.add_argument("--model", action="append", metavar="NAME|DIR",
                        help="model set(s) to measure (default: every one found)")
    parser.add_argument("--threads", type=positive_int, default=default_threads(),
                        help="CPU threads (default: %(default)s)")
    parser.add_argument("--clip", type=Path, help="clip for the pipeline benchmark (default: the reference "
                        "clip cockatoo.mp4 when the shared reference data is present, else a generated "
                        "720p clip)")
    parser.add_argument("--frames", type=positive_int, default=120,
                        help="frames of the clip to use (default: %(default)s)")
    parser.add_argument("--size", default="384", help="processing size for the pipeline benchmark (default: 384)")
    parser.add_argument("--preset", action="append", metavar="PRESET",
                        help="x264 preset(s) for the pipeline benchmark (default: veryfast, convert's default)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="pipeline rounds; each figure keeps its best round (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=1.5, help="minimum timing per measurement")
    parser.add_argument("--skip-pipeline", action="store_true", help="only time the models")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")


def _default_clip(frames: int) -> Path:
    shared = shared_dir()
    candidate = shared / "media" / "video" / "cockatoo.mp4" if shared else None
    if candidate and candidate.is_file():
        return candidate
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="streamer-bench-"))
    return write_clip(folder / "scene-720p.mp4", frames=frames, width=1280, height=720, fps=30, audio=None)


def _auto_precision(model_set: ModelSet, threads: int) -> str:
    """What ``--backend cpu --precision auto`` picks here, and why (measures once, then cached)."""
    try:
        runner, report = open_transform(model_set, BackendOptions(Backend.CPU, threads))
    except StreamerError as exc:
        return f"unavailable: {exc}"
    runner.close()
    return report.precision_reason or report.running


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _transform_table(rows: list[TransformResult]) -> list[str]:
    head = "| model | backend | " + " | ".join(f"{w}x{h} ms (fps)" for h, w in SIZES) + " |"
    lines = [head, "|" + "---|" * (2 + len(SIZES))]
    keys: dict[tuple[str, str], dict[tuple[int, int], TransformResult]] = {}
    for r in rows:
        keys.setdefault((r.model, r.backend), {})[r.size] = r
    for (model, backend), by_size in keys.items():
        cells = []
        for size in SIZES:
            found = by_size.get(size)
            if found is None or found.ms is None:
                cells.append("unavailable")
            else:
                cells.append(f"{found.ms:.1f} ({1000 / found.ms:.1f})")
        lines.append(f"| {model} | {backend} | " + " | ".join(cells) + " |")
    notes = {r.note for r in rows if r.ms is None and r.note}
    lines.extend(f"\n_unavailable: {n}_" for n in sorted(notes))
    return lines


def _pipeline_table(rows: list[PipelineResult]) -> list[str]:
    lines = ["| model | clip (frames, processing size) | x264 preset | bare inference fps | convert fps "
             "| naive loop fps | decode+encode only fps | convert / bare | convert / naive "
             "| convert / shared-core bound | decode + encode of stylized frames fps "
             "| convert / bound with the stylized encode cost |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.model} | {r.clip} ({r.frames}, {r.shape[1]}x{r.shape[0]}) | {r.preset} | "
                     f"{r.bare_fps:.1f} | {r.pipeline_fps:.1f} | {r.naive_fps:.1f} | {r.io_fps:.1f} | "
                     f"{r.pipeline_vs_bare:.2f} | {r.pipeline_vs_naive:.2f} | {r.pipeline_vs_bound:.2f} | "
                     f"{r.io_stylized_fps:.1f} | {r.pipeline_vs_stylized_bound:.2f} |")
    return lines


def run(args: argparse.Namespace) -> int:
    """Measure and print the tables."""
    sets = [find_model_set(m) for m in args.model] if args.model else available_model_sets()
    if not sets:
        raise ConfigError("no model sets found to benchmark")
    print(f"machine: {machine_description()}; {args.threads} inference threads\n")
    transforms: list[TransformResult] = []
    predictors: dict[str, float | None] = {}
    choices: dict[str, str] = {}
    for model_set in sets:
        transforms.extend(bench_transform(model_set, Backend.GPU, args.threads, min_seconds=args.seconds))
        transforms.extend(bench_cpu_precisions(model_set, args.threads, min_seconds=args.seconds))
        choices[model_set.name] = _auto_precision(model_set, args.threads)
        predictors[model_set.name] = bench_predictor(model_set, args.threads)
    print("transform (invoke only), median ms per frame (fps); cpu int8 and cpu float alternate:\n")
    print("\n".join(_transform_table(transforms)))
    print("\n`--precision auto` on this machine:")
    for name, reason in choices.items():
        print(f"* {name}: {reason}")
    print("\nstyle predictor (256x256): " + ", ".join(f"{k} {_fmt(v)} ms" for k, v in predictors.items()))
    pipelines: list[PipelineResult] = []
    if not args.skip_pipeline:
        clip = args.clip or _default_clip(args.frames)
        size = ProcessingSize.parse(args.size)
        for preset in args.preset or ["veryfast"]:
            for model_set in sets:
                pipelines.append(bench_pipeline(model_set, clip, args.threads, size, args.frames, preset,
                                                rounds=args.rounds))
        print(f"\nend-to-end conversion, cpu backend, processing size {size}, best of {args.rounds} rounds:\n")
        print("\n".join(_pipeline_table(pipelines)))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine_description(), "threads": args.threads,
            "transform": [asdict(r) for r in transforms], "predictor_ms": predictors,
            "pipeline": [asdict(p) | {"pipeline_vs_bare": p.pipeline_vs_bare, "pipeline_vs_naive": p.pipeline_vs_naive,
                                      "pipeline_vs_bound": p.pipeline_vs_bound,
                                      "pipeline_vs_stylized_bound": p.pipeline_vs_stylized_bound}
                         for p in pipelines],
        }, indent=2))
    return 0

"""``streamer convert``: stylize video and image files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..convert import FileOutcome, Job, Progress, plan_jobs, run_jobs
from ..errors import ConfigError
from ..sinks.file import EncoderSettings
from ..sources.media import VideoInfo
from .common import (
    add_engine_arguments,
    add_style_arguments,
    create_engine,
    create_recipe,
    processing_size,
    start_engine,
)
from .loop import run_async

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamer convert``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video or image files, folders, or quoted globs ('clips/*.mp4')")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="output file (one input) or folder (several); default: <name>_<style> "
                             "beside each input")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_style_arguments(parser)
    add_engine_arguments(parser)
    enc = parser.add_argument_group("video encoding")
    enc.add_argument("--codec", help="video encoder (default: libx264; libvpx-vp9 for .webm)")
    enc.add_argument("--crf", type=int, help="quality, lower is better (default: 20 for H.264)")
    enc.add_argument("--preset", help="encoder speed preset (default: veryfast)")
    parser.add_argument("--stop-on-error", action="store_true",
                        help="stop at the first file that fails (default: report it and go on)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class _Bar(Progress):
    """tqdm progress bar per file, with fps and ETA."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def start_file(self, job: Job, info: VideoInfo | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        self._bar = tqdm(total=info.frames if info else 1, desc=job.source.name, unit="frame",
                         dynamic_ncols=True, leave=True, file=sys.stderr)

    def advance(self, frames: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(frames)

    def end_file(self, outcome: FileOutcome) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _style_label(styles: list[str]) -> str:
    return "+".join(Path(s).stem for s in styles)


async def _convert(args: argparse.Namespace) -> int:
    recipe = create_recipe(args)
    size = processing_size(args)
    jobs = plan_jobs(args.inputs, args.output, _style_label(args.style), args.overwrite)
    if len(jobs) > 1 and args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    settings = EncoderSettings(args.codec, args.crf, args.preset)
    engine = create_engine(args)
    try:
        await start_engine(engine, recipe)  # styles fail before any file is touched
        progress = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
        # one file: its error is the command's error; several: report each and go on
        keep_going = len(jobs) > 1 and not args.stop_on_error
        outcomes = await run_jobs(engine, jobs, recipe, size, settings, progress, keep_going=keep_going)
    finally:
        await engine.stop(drain=False)
    return _summarize(outcomes)


def _summarize(outcomes: list[FileOutcome]) -> int:
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        if o.ok and o.job.is_image:
            print(f"ok      {o.job.source} -> {o.job.destination} (image, {o.seconds:.2f} s)")
        elif o.ok:
            fps = o.frames / o.seconds if o.seconds else 0.0
            print(f"ok      {o.job.source} -> {o.job.destination} ({o.frames} frames, {fps:.1f} fps)")
        else:
            print(f"failed  {o.job.source}: {o.error}")
            print(f"streamer: error: {o.job.source}: {o.error}", file=sys.stderr)
    if len(outcomes) > 1:
        print(f"{len(outcomes) - len(failed)} converted, {len(failed)} failed")
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """Run ``streamer convert``."""
    if args.crf is not None and not 0 <= args.crf <= 63:
        raise ConfigError(f"--crf must be between 0 and 63, got {args.crf}")
    return run_async(_convert(args))

"""``streamer convert``: stylize video and image files.

Exit status: 0 every file converted; 1 a file failed (or bad options); 3 an input was damaged
(the output holds what decoded; ``--allow-damaged`` makes that 0); 130 Ctrl-C, 143 SIGTERM,
129 SIGHUP (the unfinished output is deleted, files already finished are kept).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..convert import FileOutcome, Job, Progress, plan_jobs, run_jobs
from ..errors import ConfigError
from ..sinks.encoders import auto_video_encoder
from ..sinks.file import AUTO_CODEC, EncoderSettings
from ..sources.media import VideoInfo
from .common import (
    add_engine_arguments,
    add_style_arguments,
    backend_options,
    create_engine,
    create_recipe,
    non_negative_float,
    non_negative_seconds,
    positive_float,
    processing_size,
    start_engine,
)
from .loop import run_async

if TYPE_CHECKING:
    from ..cluster import ClusterOptions

__all__ = ["EXIT_DAMAGED", "add_arguments", "run"]

#: exit status when an input was damaged and converted only as far as it decodes
EXIT_DAMAGED = 3
#: signals that stop a conversion like Ctrl-C does (exit status 128 + signal number)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


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
    enc.add_argument("--codec", help="video encoder (default: libx264; libvpx-vp9 for .webm); 'auto': a "
                                     "hardware H.264/HEVC encoder that passes a trial encode, else libx264")
    enc.add_argument("--crf", type=int, help="quality, lower is better (default: 20 for H.264)")
    enc.add_argument("--preset", help="encoder speed preset (default: veryfast)")
    parser.add_argument("--video-stream", type=int, metavar="INDEX",
                        help="stream index to stylize in files with several video streams (default: the "
                             "default one, else the first)")
    parser.add_argument("--allow-damaged", action="store_true",
                        help="exit 0 for damaged inputs converted as far as they decode (default: exit 3)")
    parser.add_argument("--stop-on-error", action="store_true",
                        help="stop at the first file that fails (default: report it and go on)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = parser.add_argument_group("cluster (Ray: the 'ray' extra)")
    cluster.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                         help="convert on Ray: alone, a private local instance (or $STREAMER_RAY_ADDRESS); "
                              "'auto' or ray://host:10001 joins a running cluster. Put it after the inputs "
                              "or write --ray=ADDRESS")
    cluster.add_argument("--chunk-seconds", type=non_negative_seconds, metavar="S",
                         help="split videos at keyframes into chunks of at least S seconds (0: never split; "
                              "default: about four chunks per worker)")
    cluster.add_argument("--ray-cpus-per-worker", type=positive_float, default=1.0, metavar="N",
                         help="CPUs each worker holds; also its inference and encoder threads (default: 1)")
    cluster.add_argument("--ray-gpus-per-worker", type=non_negative_float, default=0.0, metavar="N",
                         help="GPUs (or a fraction) each worker holds; workers without one run on the CPU "
                              "(default: 0)")


class _TotalBar(Progress):
    """One tqdm bar over every file (files convert at the same time on a cluster)."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=0, desc="frames", unit="frame", dynamic_ncols=True, file=sys.stderr)

    def start_file(self, job: Job, info: VideoInfo | None) -> None:
        if self._bar is not None:
            total = self._bar.total + ((info.frames or 0) if info else 1)
            if self._bar.n == 0:  # the clock starts with the first file, not with Ray's start-up
                self._bar.reset(total)
            else:
                self._bar.total = total
                self._bar.refresh()

    def advance(self, frames: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(frames)

    def note(self, line: str) -> None:
        """Print ``line`` on stderr above the bar."""
        if self._bar is not None:
            self._bar.write(f"streamer: {line}", file=sys.stderr)
        else:
            print(f"streamer: {line}", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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


class _Stopped(Exception):
    """The conversion was cancelled by a stop signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _style_label(styles: list[str]) -> str:
    return "+".join(Path(s).stem for s in styles)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create folder {folder}: {exc.strerror or exc}") from None


async def _convert(args: argparse.Namespace) -> int:
    cluster = _cluster_options(args)
    recipe = create_recipe(args)
    size = processing_size(args)
    jobs = plan_jobs(args.inputs, args.output, _style_label(args.style), args.overwrite)
    if len(jobs) > 1 and args.output:
        _make_folder(Path(args.output))
    settings = EncoderSettings(args.codec, args.crf, args.preset)
    engine = create_engine(args)
    try:
        await start_engine(engine, recipe)  # styles fail before any file is touched
        if args.codec == AUTO_CODEC:
            print(f"streamer: {await asyncio.to_thread(lambda: auto_video_encoder().describe())}", file=sys.stderr)
        show = not args.no_progress and sys.stderr.isatty()
        # one file: its error is the command's error; several: report each and go on
        keep_going = len(jobs) > 1 and not args.stop_on_error
        if cluster is None:
            outcomes = await run_jobs(engine, jobs, recipe, size, settings, _Bar(show), keep_going=keep_going,
                                      video_stream=args.video_stream)
        else:
            from ..cluster import run_cluster_jobs

            bar = _TotalBar(show)
            try:
                outcomes = await run_cluster_jobs(engine, jobs, recipe, size, settings,
                                                  backend_options(args, args.threads), cluster, bar, keep_going,
                                                  notify=bar.note, video_stream=args.video_stream)
            finally:
                bar.close()
    finally:
        await engine.stop(drain=False)
    return _summarize(outcomes, args.allow_damaged)


async def _convert_until_stopped(args: argparse.Namespace) -> int:
    """:func:`_convert`, cancelled by SIGTERM or SIGHUP the way Ctrl-C cancels it.

    Ctrl-C (SIGINT) is taken by the loop too, unless it was ignored when the command started:
    Python's own handler can be held back by a library (Ray defers SIGINT while it submits a
    task), and a Ctrl-C must never be lost. It still ends as an interruption (exit 130).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def stop(signum: int) -> None:
        if not received and task is not None:
            received.append(signum)
            task.cancel()

    installed = []
    interrupt = () if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else (signal.SIGINT,)
    for signum in (*interrupt, *STOP_SIGNALS):
        try:
            loop.add_signal_handler(signum, stop, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        return await _convert(args)
    except asyncio.CancelledError:
        if received and received[0] == signal.SIGINT:
            raise KeyboardInterrupt from None
        if received:
            raise _Stopped(received[0]) from None
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The cluster options, or None without ``--ray`` (whose companions then are refused)."""
    if args.ray is None:
        given = [name for name, value in (("--chunk-seconds", args.chunk_seconds),
                                          ("--ray-cpus-per-worker", args.ray_cpus_per_worker != 1.0),
                                          ("--ray-gpus-per-worker", args.ray_gpus_per_worker)) if value]
        if given:
            raise ConfigError(f"{given[0]} needs --ray")
        return None
    from ..cluster import ClusterOptions, parse_address

    return ClusterOptions(parse_address(args.ray), args.chunk_seconds, args.ray_cpus_per_worker,
                          args.ray_gpus_per_worker, verbose=args.verbose > 0)


def _summarize(outcomes: list[FileOutcome], allow_damaged: bool) -> int:
    failed = [o for o in outcomes if not o.ok]
    damaged = [o for o in outcomes if o.ok and o.damage]
    for o in outcomes:
        if o.ok and o.job.is_image:
            print(f"ok      {o.job.source} -> {o.job.destination} (image, {o.seconds:.2f} s)")
        elif o.ok:
            fps = o.frames / o.seconds if o.seconds else 0.0
            state = "damaged" if o.damage else "ok     "
            print(f"{state} {o.job.source} -> {o.job.destination} ({o.frames} frames, {fps:.1f} fps)")
        else:
            print(f"failed  {o.job.source}: {o.error}")
            print(f"streamer: error: {o.job.source}: {o.error}", file=sys.stderr)
    if len(outcomes) > 1:
        extra = f", {len(damaged)} damaged" if damaged else ""
        print(f"{len(outcomes) - len(failed)} converted{extra}, {len(failed)} failed")
    if failed:
        return 1
    if damaged and not allow_damaged:
        names = ", ".join(o.job.source.name for o in damaged)
        print(f"streamer: damaged input ({names}): the output holds what could be decoded; "
              f"--allow-damaged accepts it (exit status {EXIT_DAMAGED})", file=sys.stderr)
        return EXIT_DAMAGED
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``streamer convert``."""
    if args.crf is not None and not 0 <= args.crf <= 63:
        raise ConfigError(f"--crf must be between 0 and 63, got {args.crf}")
    try:
        return run_async(_convert_until_stopped(args))
    except _Stopped as stopped:
        print(f"streamer: stopped by {stopped}; the unfinished output was deleted", file=sys.stderr)
        return 128 + stopped.signum

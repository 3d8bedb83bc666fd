"""Options shared by several commands, and the objects they create."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..config import Backend, CpuPrecision, ProcessingSize
from ..engine import Engine
from ..errors import ConfigError
from ..inference.backends import BackendOptions, BackendReport, default_threads
from ..inference.process import ProcessPriority
from ..styles import StyleRecipe

__all__ = [
    "add_engine_arguments",
    "add_style_arguments",
    "non_negative_float",
    "non_negative_seconds",
    "positive_float",
    "positive_int",
    "announce_backend",
    "create_engine",
    "create_recipe",
    "processing_size",
    "start_engine",
]

logger = logging.getLogger("streamer")


_N = TypeVar("_N", int, float)

def _number_parser(convert: Callable[[str], _N], accept: Callable[[_N], bool], expected: str) -> Callable[[str], _N]:
    """An argparse ``type=`` that converts ``text`` and refuses values outside ``accept``."""

    def parse(text: str) -> _N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


positive_int = _number_parser(int, lambda v: v >= 1, "a whole number of at least 1")
non_negative_seconds = _number_parser(float, lambda v: v >= 0, "a non-negative number of seconds")
positive_float = _number_parser(float, lambda v: v > 0, "a number above 0")
non_negative_float = _number_parser(float, lambda v: v >= 0, "a non-negative number")
_unit_float = _number_parser(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1")


def add_engine_arguments(parser: argparse.ArgumentParser, default_size: str = "384") -> None:
    """``--model``, ``--backend``, ``--threads``, ``--gpu-delegate``, ``--size``."""
    group = parser.add_argument_group("model and backend")
    group.add_argument("--model", metavar="NAME|DIR",
                       help="model set: a bundled name (see 'streamer info'), 'magenta', or a directory")
    add_backend_arguments(group)
    group.add_argument("--threads", type=positive_int, default=default_threads(),
                       help="CPU threads for inference (default: %(default)s)")
    group.add_argument("--size", default=default_size, metavar="PIXELS|native",
                       help="processing resolution: short side in pixels, or 'native'; the output "
                            "always keeps the input's resolution (default: %(default)s)")


def add_backend_arguments(group: argparse._ActionsContainer) -> None:
    """``--backend``, ``--precision``, ``--gpu-delegate`` (also used by ``streamer info``)."""
    group.add_argument("--backend", choices=[b.value for b in Backend], default=Backend.AUTO.value,
                       help="gpu = float16 model on a GPU, cpu = XNNPACK on the CPU, "
                            "auto = GPU if it works, else CPU (default: %(default)s)")
    group.add_argument("--precision", choices=[p.value for p in CpuPrecision], default=CpuPrecision.AUTO.value,
                       help="the CPU model: int8, float (float16 weights, float compute), or auto = the one "
                            "measured faster on this machine, float on a tie (measured once, cached; "
                            "default: %(default)s)")
    group.add_argument("--gpu-delegate", metavar="LIB",
                       help="TFLite GPU delegate library (default: $STREAMER_GPU_DELEGATE or "
                            "libtensorflowlite_gpu_delegate.so)")


def backend_options(args: argparse.Namespace, threads: int) -> BackendOptions:
    """The :class:`BackendOptions` from ``--backend``/``--precision``/``--gpu-delegate``."""
    return BackendOptions(Backend(args.backend), threads, args.gpu_delegate, CpuPrecision(args.precision))


def add_style_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--style`` (once or twice), ``--mix``, ``--strength``."""
    group = parser.add_argument_group("style")
    group.add_argument("--style", action="append", required=required, metavar="NAME|IMAGE",
                       help="built-in style name ('streamer styles'), a style image, or a .npy "
                            "embedding; give it twice to blend two styles")
    group.add_argument("--mix", type=_unit_float, metavar="T",
                       help="with two --style values: weight of the second (0..1, default 0.5)")
    group.add_argument("--strength", type=_unit_float, default=1.0, metavar="A",
                       help="1 = full style, lower blends towards the content's own look (default 1)")


def processing_size(args: argparse.Namespace) -> ProcessingSize:
    """The :class:`ProcessingSize` from ``--size``."""
    return ProcessingSize.parse(args.size)


def create_recipe(args: argparse.Namespace) -> StyleRecipe:
    """The :class:`StyleRecipe` from ``--style``/``--mix``/``--strength``."""
    if not args.style:
        raise ConfigError("give a --style (see 'streamer styles')")
    if args.mix is not None and len(args.style) != 2:
        raise ConfigError("--mix needs exactly two --style values")
    if len(args.style) > 2:
        raise ConfigError(f"give --style once or twice, not {len(args.style)} times")
    return StyleRecipe.of(args.style, args.mix, args.strength)


def create_engine(args: argparse.Namespace, max_batch: int = 4,
                  inference_process: ProcessPriority | None = None) -> Engine:
    """An (unstarted) :class:`Engine` from the model and backend options; with
    ``inference_process`` (a CPU priority) the models run in a process of their own."""
    return Engine.create(args.model, backend_options(args, args.threads), max_batch=max_batch,
                         inference_process=inference_process)


def announce_backend(report: BackendReport) -> None:
    """One short line on stderr saying what runs; every reason behind it at ``--verbose``."""
    print(f"streamer: {report.summary}", file=sys.stderr)
    for line in report.details:
        logger.info("%s", line)


async def start_engine(engine: Engine, recipe: StyleRecipe | None = None) -> BackendReport:
    """Check the style names, start ``engine``, embed the styles, then announce the backend.

    Unknown style names fail before the models load, and no backend line is printed before
    an error about the styles.
    """
    styles = recipe.styles if recipe is not None else ()
    for style in styles:
        if not Path(style).expanduser().exists():  # a built-in name (or a typo): no model needed yet
            await engine.styles.embedding(style)
    report = await engine.start()
    for style in styles:
        await engine.styles.embedding(style)
    announce_backend(report)
    return report

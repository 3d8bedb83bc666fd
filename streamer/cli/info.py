"""``streamer info``: versions, models, backends, and which backend would run and why."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from importlib import metadata

from .. import __version__
from ..errors import StreamerError
from ..inference.backends import default_threads, open_transform
from ..inference.catalog import available_model_sets, default_model_name, find_model_set
from ..inference.precision import PrecisionCache
from ..inference.runtime import load_runtime
from .common import add_backend_arguments, backend_options, positive_int

__all__ = ["add_arguments", "run"]

_PACKAGES = ("numpy", "av", "opencv-python-headless", "opencv-python", "ai-edge-litert", "tflite-runtime",
             "aiortc", "aiohttp", "uvloop", "pyvirtualcam")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamer info``."""
    parser.add_argument("--model", metavar="NAME|DIR", help="model set to probe backends with (default: bundled)")
    add_backend_arguments(parser)
    parser.add_argument("--remeasure", action="store_true",
                        help="time the CPU's int8 and float models again and store the new decision "
                             "(e.g. after measuring on a busy machine)")
    parser.add_argument("--threads", type=positive_int, default=default_threads(),
                        help="CPU threads (default: %(default)s, the cores this process may use, at most 8)")


def _versions() -> list[str]:
    lines = [f"streamer {__version__}", f"python {platform.python_version()} ({sys.platform}, {platform.machine()})"]
    for name in _PACKAGES:
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return lines


def run(args: argparse.Namespace) -> int:
    """Print what is installed, which models exist, and the backend decision."""
    print("versions:")
    for line in _versions():
        print(f"  {line}")
    try:
        runtime = load_runtime()
        print(f"interpreter: {runtime.name} {runtime.version}"
              f"{' (CompiledModel API available)' if runtime.has_compiled_model else ''}")
    except StreamerError as exc:
        print(f"interpreter: none ({exc})")
        return 1
    print("models:")
    sets = available_model_sets()
    if not sets:
        print("  none found (bundled models missing; set STREAMER_MAGENTA_DIR or pass --model DIR)")
    default = default_model_name()
    for s in sets:
        files = ", ".join(f"{p.value}={f.name}" for p, f in s.transforms.items())
        predictor = s.predictor.name if s.predictor else "none"
        mark = " (default)" if s.name == default else ""
        print(f"  {s.name}{mark}: {s.directory} [{files}; predictor={predictor}; size multiple {s.size_multiple}]")
    model_set = find_model_set(args.model)
    options = backend_options(args, args.threads)
    if args.remeasure:
        options = dataclasses.replace(options, precision_cache=PrecisionCache(reuse=False))
    runner, report = open_transform(model_set, options)
    runner.close()
    print(f"backend (--backend {args.backend} --precision {args.precision}, model {model_set.name}):")
    for line in report.details:
        print(f"  {line}")
    return 0

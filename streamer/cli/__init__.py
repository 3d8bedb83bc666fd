"""The ``streamer`` command line.

Each command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only builds the parser, dispatches, and turns errors into
one-line messages with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import StreamerError

__all__ = ["main"]

#: command name -> (module, one-line help)
COMMANDS = {
    "convert": ("convert", "stylize video and image files (many at once with a folder or glob)"),
    "live": ("live", "stylize a webcam or network stream live"),
    "serve": ("serve", "WebRTC server: stylize a browser's camera"),
    "styles": ("styles", "list the built-in styles"),
    "devices": ("devices", "list cameras and their modes"),
    "info": ("info", "versions, models, backends and which one would run"),
    "bench": ("bench", "measure inference and pipeline speed on this machine"),
}

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (commands whose module is missing are left out)."""
    parser = _Parser(prog="streamer", description="Neural style transfer for video: stylize files, "
                     "webcams and network streams, or a browser's camera over WebRTC.",
                     epilog="'streamer COMMAND --help' describes a command's options.")
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module_name}":
                continue
            raise
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="streamer: %(message)s" if verbosity < 2 else
                        "%(asctime)s %(name)s %(levelname)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `streamer`: say what it can do
        parser.print_help()
        return 0
    _configure_logging(args.verbose)
    try:
        return int(args.run(args) or 0)
    except StreamerError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("streamer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the promise: one line, never a traceback (unless --debug)
        if args.debug:
            raise
        print(f"streamer: error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return EXIT_ERROR

"""``streamer styles``: list the built-in styles."""

from __future__ import annotations

import argparse

from ..inference.catalog import find_model_set
from ..styles import load_builtin_styles

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamer styles``."""
    parser.add_argument("--model", metavar="NAME|DIR", help="model set whose styles to list (default: bundled)")


def run(args: argparse.Namespace) -> int:
    """List style names and titles, one per line."""
    model_set = find_model_set(args.model)
    styles = load_builtin_styles(model_set.styles_file)
    if not styles:
        print(f"model {model_set.name!r} ships no built-in styles; pass a style image with --style IMAGE")
        return 0
    width = max(len(name) for name in styles)
    for name, style in sorted(styles.items()):
        print(f"{name:<{width}}  {style.title}")
    return 0

"""``streamer devices``: the cameras ``streamer live --input`` can open, with their modes."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..sources.devices import list_cameras

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json``."""
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args: argparse.Namespace) -> int:
    """List the cameras; say so plainly when there are none."""
    cameras = list_cameras()
    if args.json:
        print(json.dumps([asdict(c) for c in cameras], indent=2))
        return 0
    if not cameras:
        print("no cameras found")
        return 0
    for camera in cameras:
        print(f"{camera.device}: {camera.name}")
        if camera.note:
            print(f"  ({camera.note})")
        for mode in camera.modes:
            print(f"  {mode}")
    return 0

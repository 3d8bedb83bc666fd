"""Fixtures of the live tests: the real RTSP server, a silent TCP server, a style to paint."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.inference.catalog import find_model_set
from streamer.styles import load_builtin_styles

from .servers import RtspServer, SilentServer, rtsp_server_problem


@functools.cache
def _rtsp_problem() -> str | None:
    return rtsp_server_problem()


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A fresh gst-rtsp-server on 127.0.0.1 (skips with the reason when GStreamer is missing)."""
    problem = _rtsp_problem()
    if problem is not None:
        pytest.skip(problem)
    server = RtspServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A TCP server on 127.0.0.1 that accepts and never answers."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def style_image(path: Path) -> Path:
    """A bold, high-contrast style image (diagonal stripes), made on the fly."""
    y, x = np.mgrid[0:256, 0:256]
    stripes = ((x + y) // 16) % 2
    image = np.zeros((256, 256, 3), np.uint8)
    image[stripes == 1] = (30, 60, 220)
    image[stripes == 0] = (250, 200, 20)
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def style_spec(any_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A style the model set can paint: its first built-in style, else a generated image."""
    builtins = load_builtin_styles(find_model_set(any_model).styles_file)
    if builtins:
        return sorted(builtins)[0]
    return str(style_image(tmp_path_factory.mktemp("style") / "stripes.png"))


@pytest.fixture
def second_style(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Another style image, unlike :func:`style_spec`'s (checkerboard)."""
    y, x = np.mgrid[0:256, 0:256]
    board = ((x // 32 + y // 32) % 2).astype(np.uint8) * 255
    path = tmp_path_factory.mktemp("style2") / "board.png"
    cv2.imwrite(str(path), np.stack([board, 255 - board, board // 2], axis=-1))
    return str(path)

"""A webcam as a live source, through OpenCV's ``VideoCapture``.

.. code-block:: python

    source = WebcamSource(0, width=1280, height=720, fps=30)
    info = source.open()       # info.notes says what the camera granted, if it differs
    frame = source.read()      # RGB; SourceEndedError once the camera is unplugged
    source.close()
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, SourceEndedError, SourceOpenError
from ..frames import Frame
from .base import Source, SourceInfo

__all__ = ["WebcamSource", "camera_device"]

_DEVICE_PATH = re.compile(r"^/dev/video\d+$")


def camera_device(spec: str) -> int | str | None:
    """The camera an ``--input`` value names (``"0"`` -> 0, ``"/dev/video2"``), or None."""
    text = spec.strip()
    if text.isdigit():
        return int(text)
    if _DEVICE_PATH.match(text):
        return text
    return None


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings (a missing camera is reported once, by us)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class WebcamSource(Source):
    """Frames of a camera, read on the caller's thread.

    :param device: camera index or device path (``/dev/video2``).
    :param width: requested width (the camera may grant another; see ``info.notes``).
    :param height: requested height.
    :param fps: requested frame rate.
    :param read_timeout: seconds without a frame before the camera counts as gone.
    :param capture_factory: builds the capture object (``cv2.VideoCapture`` by default; tests
        pass a fake with the same methods).
    """

    def __init__(
        self,
        device: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        read_timeout: float = 5.0,
        capture_factory: Callable[..., Any] | None = None,
    ) -> None:
        if (width is None) != (height is None):
            raise ConfigError("give both a camera width and height (e.g. --camera-size 1280x720)")
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.read_timeout = read_timeout
        self._factory = capture_factory or cv2.VideoCapture
        self.description = f"camera {device}"
        self.info: SourceInfo | None = None
        self._capture: Any = None
        self._first: np.ndarray | None = None
        self._seq = 0
        self._stopped = False

    def open(self) -> SourceInfo:
        self.close()
        self._stopped = False
        with _quiet_opencv():
            capture = self._factory(self.device)
        self._capture = capture
        try:
            if not capture.isOpened():
                raise SourceOpenError(f"cannot open {self.description}: no such camera, or it is busy "
                                      "(see 'streamer devices')")
            self._request(capture)
            ok, image = capture.read()
            if not ok or image is None:
                raise SourceOpenError(f"{self.description} opened but delivers no frames")
        except BaseException:
            self.close()
            raise
        self._first = image
        granted_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0) or None
        height, width = image.shape[:2]
        self.info = SourceInfo(self.description, width, height, granted_fps,
                               notes=self._granted_note(width, height, granted_fps))
        return self.info

    def _request(self, capture: Any) -> None:
        if hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):
            capture.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.read_timeout * 1000)
        if self.width is not None and self.height is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps is not None:
            capture.set(cv2.CAP_PROP_FPS, self.fps)

    def _granted_note(self, width: int, height: int, fps: float | None) -> tuple[str, ...]:
        size_differs = self.width is not None and (width, height) != (self.width, self.height)
        fps_differs = self.fps is not None and (fps is None or abs(fps - self.fps) > 0.5)
        if not (size_differs or fps_differs):
            return ()
        asked = f"{self.width}x{self.height}" if self.width is not None else f"{width}x{height}"
        asked += f" @ {self.fps:g} fps" if self.fps is not None else ""
        got = f"{width}x{height}" + (f" @ {fps:g} fps" if fps else "")
        return (f"{self.description}: asked for {asked}, the camera gave {got}",)

    def read(self) -> Frame:
        if self._capture is None or self._stopped:
            raise SourceEndedError(f"{self.description}: stopped")
        image, self._first = self._first, None
        deadline = time.monotonic() + self.read_timeout
        while image is None:
            ok, image = self._capture.read()
            if ok and image is not None:
                break
            image = None
            if self._stopped:
                raise SourceEndedError(f"{self.description}: stopped")
            if time.monotonic() >= deadline:
                raise SourceEndedError(f"{self.description} stopped delivering frames (unplugged?)")
            time.sleep(0.01)
        frame = Frame(_to_rgb(image), seq=self._seq)
        self._seq += 1
        return frame

    def interrupt(self) -> None:
        self._stopped = True

    def close(self) -> None:
        if self._capture is not None:
            capture, self._capture = self._capture, None
            capture.release()
        self._first = None

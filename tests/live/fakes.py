"""Hand-written stand-ins for the things these machines lack: a camera, a GUI, a virtual camera
device; and a synthetic live source paced in real time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from streamer.errors import SinkError, SourceEndedError
from streamer.frames import Frame
from streamer.sinks.base import Sink
from streamer.sources.base import Source, SourceInfo

from ..media import pattern_frame

__all__ = ["FakeCapture", "FakeGui", "FakeVirtualCamera", "ListSink", "PatternSource"]


class FakeCapture:
    """Behaves like ``cv2.VideoCapture`` on a camera: BGR frames of the granted size, a granted
    mode that may differ from the requested one, and an "unplug" after ``frames`` reads."""

    instances: list[FakeCapture] = []

    def __init__(self, device: int | str, *, opened: bool = True, frames: int | None = None,
                 grant: tuple[int, int, float] = (640, 480, 30.0)) -> None:
        self.device = device
        self.opened = opened
        self.frames = frames
        self.width, self.height, self.fps = grant
        self.requested: dict[int, float] = {}
        self.reads = 0
        self.released = False
        FakeCapture.instances.append(self)

    @classmethod
    def factory(cls, **kwargs: Any) -> Callable[[int | str], FakeCapture]:
        """A ``capture_factory`` that builds fakes with ``kwargs``."""
        return lambda device: cls(device, **kwargs)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.requested[prop] = value
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FRAME_WIDTH: self.width, cv2.CAP_PROP_FRAME_HEIGHT: self.height,
                cv2.CAP_PROP_FPS: self.fps}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.released or (self.frames is not None and self.reads >= self.frames):
            return False, None
        self.reads += 1
        rgb = pattern_frame(self.reads, self.height, self.width)
        return True, np.ascontiguousarray(rgb[..., ::-1])

    def release(self) -> None:
        self.released = True


class FakeGui:
    """The HighGUI calls :class:`~streamer.sinks.preview.PreviewSink` makes, recorded; ``keys``
    are returned by ``waitKey`` one by one; ``close_after`` shows close the window."""

    def __init__(self, keys: str = "", close_after: int | None = None) -> None:
        self.keys = [ord(k) for k in keys]
        self.close_after = close_after
        self.shown: list[np.ndarray] = []
        self.destroyed = False

    def getBuildInformation(self) -> str:  # noqa: N802
        return "  GUI:                           GTK3\n"

    def namedWindow(self, title: str, flags: int) -> None:  # noqa: N802
        self.title = title

    def resizeWindow(self, title: str, width: int, height: int) -> None:  # noqa: N802
        self.size = (width, height)

    def imshow(self, title: str, image: np.ndarray) -> None:
        self.shown.append(image)

    def waitKey(self, delay: int) -> int:  # noqa: N802
        return self.keys.pop(0) if self.keys else -1

    def getWindowProperty(self, title: str, prop: int) -> float:  # noqa: N802
        closed = self.close_after is not None and len(self.shown) >= self.close_after
        return 0.0 if closed else 1.0

    def destroyWindow(self, title: str) -> None:  # noqa: N802
        self.destroyed = True


class FakeVirtualCamera:
    """A pyvirtualcam backend (``pyvirtualcam.register_backend``) that keeps what it is sent."""

    sent: list[np.ndarray] = []
    opened: list[dict[str, Any]] = []
    closed = 0

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        FakeVirtualCamera.opened.append({"width": width, "height": height, "fps": fps, "device": device})
        self._device = device or "/dev/video-fake"
        self._shape = (height, width, 3)

    def send(self, frame: np.ndarray) -> None:
        """pyvirtualcam hands backends a flat RGB buffer."""
        FakeVirtualCamera.sent.append(frame.reshape(self._shape).copy())

    def close(self) -> None:
        FakeVirtualCamera.closed += 1

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None

    @classmethod
    def reset(cls) -> None:
        cls.sent, cls.opened, cls.closed = [], [], 0


class PatternSource(Source):
    """A live source on its own clock: a moving pattern at ``fps``, paced in real time.

    ``stop_after`` frames end it (``SourceEndedError``); ``static`` repeats one frame.
    """

    def __init__(self, width: int = 160, height: int = 120, fps: float = 30.0,
                 stop_after: int | None = None, static: bool = False) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.stop_after = stop_after
        self.static = static
        self.produced = 0
        self.opens = 0
        self._next = 0.0
        self._stopped = threading.Event()

    def open(self) -> SourceInfo:
        self.opens += 1
        self._stopped.clear()
        self._next = time.monotonic()
        return SourceInfo("pattern", self.width, self.height, self.fps, finite=self.stop_after is not None)

    def read(self) -> Frame:
        if self.stop_after is not None and self.produced >= self.stop_after:
            raise SourceEndedError("pattern ended")
        delay = self._next - time.monotonic()
        if delay > 0 and self._stopped.wait(delay):
            raise SourceEndedError("pattern stopped")
        self._next = max(self._next + 1.0 / self.fps, time.monotonic() - 1.0)
        index = 0 if self.static else self.produced
        frame = Frame(pattern_frame(index, self.height, self.width), seq=self.produced)
        self.produced += 1
        return frame

    def interrupt(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        pass


class ListSink(Sink):
    """Keeps every frame it is given; ``fail_after`` writes it raises ``SinkError``."""

    def __init__(self, name: str = "list", fail_after: int | None = None) -> None:
        self.name = name
        self.fail_after = fail_after
        self.frames: list[Frame] = []
        self.opened = 0
        self.closed = 0

    def open(self, frame: Frame, source: SourceInfo) -> None:
        self.opened += 1

    def write(self, frame: Frame) -> None:
        if self.fail_after is not None and len(self.frames) >= self.fail_after:
            raise SinkError(f"{self.name} broke")
        self.frames.append(frame)

    def close(self) -> None:
        self.closed += 1

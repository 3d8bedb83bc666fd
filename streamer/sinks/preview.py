"""A preview window: OpenCV's HighGUI when the installed ``cv2`` has a GUI, else Tk (:mod:`.tkwindow`).

Keys pressed in the window are handed to ``on_key``; closing the window ends the session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import cv2

from ..errors import SinkError
from ..frames import Frame
from ..sources.base import SourceInfo
from .base import Sink, SinkClosed
from .tkwindow import TkGui, tk_problem

__all__ = ["PreviewSink", "default_gui", "gui_problem", "has_highgui"]

_NO_KEY = -1


def has_highgui(gui: Any = cv2) -> bool:
    """True if this OpenCV build can show windows (``opencv-python-headless`` cannot)."""
    info = gui.getBuildInformation() if hasattr(gui, "getBuildInformation") else ""
    gui_line = next((line for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    return not (gui_line and gui_line.split(":", 1)[1].strip().upper() in ("", "NONE"))


def default_gui() -> Any:
    """OpenCV's HighGUI if this ``cv2`` has one, else a Tk window."""
    return cv2 if has_highgui(cv2) else TkGui()


def gui_problem(gui: Any = cv2, environ: dict[str, str] | None = None, platform: str = sys.platform,
                tk_missing: str | None = None) -> str | None:
    """Why a window cannot be shown here, or None if it can.

    :param tk_missing: why Tk is unusable (default: :func:`tk_problem`); consulted for a Tk window.
    """
    env = os.environ if environ is None else environ
    if isinstance(gui, TkGui):
        problem = tk_missing if tk_missing is not None else tk_problem()
        if problem:
            return problem
    elif not has_highgui(gui):
        return "this OpenCV has no GUI support (opencv-python-headless)"
    if platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return "no display to show the preview window on (DISPLAY is not set)"
    return None


class PreviewSink(Sink):
    """Shows stylized frames in a window.

    :param title: window title.
    :param on_key: receives each key pressed in the window, as a one-character string.
    :param gui: the HighGUI functions (default: :func:`default_gui`; tests pass a stand-in).
    """

    name = "preview"

    def __init__(self, title: str = "streamer", on_key: Callable[[str], None] | None = None,
                 gui: Any = None) -> None:
        self.title = title
        self.on_key = on_key
        self._gui = gui if gui is not None else default_gui()
        self._open = False

    def check(self) -> None:
        problem = gui_problem(self._gui)
        if problem is not None:
            raise SinkError(f"cannot show the preview: {problem}")

    def open(self, frame: Frame, source: SourceInfo) -> None:
        try:
            self._gui.namedWindow(self.title, cv2.WINDOW_NORMAL)
            self._gui.resizeWindow(self.title, frame.width, frame.height)
        except cv2.error as exc:
            raise SinkError(f"cannot open the preview window: {exc}") from exc
        self._open = True

    def write(self, frame: Frame) -> None:
        self._gui.imshow(self.title, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        self._poll()

    def idle(self) -> None:
        self._poll()

    def _poll(self) -> None:
        key = self._gui.waitKey(1)
        if key != _NO_KEY and self.on_key is not None and 0 <= key & 0xFF < 128:
            self.on_key(chr(key & 0xFF))
        if self._gui.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise SinkClosed("preview window closed")

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._gui.destroyWindow(self.title)
                self._gui.waitKey(1)
            except cv2.error:
                pass  # the window is already gone

"""A preview window drawn with Tk (Python's standard GUI toolkit), for OpenCV builds without a GUI.

streamer depends on ``opencv-python-headless``; OpenCV's GUI build (``opencv-python``) installs
the same ``cv2`` module, so the two cannot be installed side by side. The preview therefore
uses OpenCV's HighGUI only when the installed ``cv2`` has one, and Tk otherwise.
:class:`TkGui` offers the few HighGUI calls :class:`~streamer.sinks.preview.PreviewSink` makes,
for one window, and must be used from one thread (the sink's).
"""

from __future__ import annotations

import collections
import sys
from typing import Any

import numpy as np

from ..errors import SinkError

__all__ = ["TkGui", "tk_problem"]


def tk_problem() -> str | None:
    """Why Tk cannot be used here (with what to install), or None if it can."""
    try:
        import tkinter  # noqa: F401
    except ImportError:
        if sys.platform == "darwin":
            how = "Homebrew: brew install python-tk; python.org installers include it"
        elif sys.platform == "win32":
            how = "re-run the Python installer with 'tcl/tk and IDLE' ticked"
        else:
            how = "Debian/Ubuntu: sudo apt install python3-tk; Fedora: sudo dnf install python3-tkinter"
        return f"neither OpenCV's GUI nor Tk for Python is installed ({how})"
    return None


class TkGui:
    """``namedWindow``/``imshow``/``waitKey``/... for one Tk window (BGR images, like HighGUI)."""

    def __init__(self) -> None:
        self._root: Any = None
        self._label: Any = None
        self._photo: Any = None
        self._keys: collections.deque[str] = collections.deque(maxlen=32)
        self._closed = False

    def namedWindow(self, title: str, flags: int = 0) -> None:  # noqa: N802 - HighGUI's name
        """Create the window (on the calling thread, which must make every later call)."""
        import tkinter

        try:
            self._root = tkinter.Tk(className="streamer")
        except tkinter.TclError as exc:
            raise SinkError(f"cannot open the preview window: {exc}") from exc
        self._root.title(title)
        self._root.protocol("WM_DELETE_WINDOW", self._on_close)
        self._root.bind("<Key>", lambda event: self._keys.append(event.char) if event.char else None)
        self._label = tkinter.Label(self._root, borderwidth=0)
        self._label.pack(fill="both", expand=True)

    def _on_close(self) -> None:
        self._closed = True

    def resizeWindow(self, title: str, width: int, height: int) -> None:  # noqa: N802
        """Size the window for ``width`` x ``height`` frames."""
        self._root.geometry(f"{width}x{height}")

    def imshow(self, title: str, bgr: np.ndarray) -> None:
        """Show a BGR ``uint8`` image."""
        import tkinter

        height, width = bgr.shape[:2]
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        ppm = f"P6 {width} {height} 255 ".encode() + rgb.tobytes()
        self._photo = tkinter.PhotoImage(master=self._root, width=width, height=height, data=ppm, format="PPM")
        self._label.configure(image=self._photo)

    def waitKey(self, delay: int = 0) -> int:  # noqa: N802
        """Process window events; the oldest key pressed since the last call, or -1."""
        import tkinter

        if self._root is not None and not self._closed:
            try:
                self._root.update()
            except tkinter.TclError:
                self._closed = True
        return ord(self._keys.popleft()) if self._keys else -1

    def getWindowProperty(self, title: str, prop: int) -> float:  # noqa: N802
        """1.0 while the window is open, 0.0 once the user closed it."""
        return 0.0 if self._closed or self._root is None else 1.0

    def destroyWindow(self, title: str) -> None:  # noqa: N802
        """Close the window (idempotent)."""
        import tkinter

        root, self._root = self._root, None
        self._closed = True
        # every Tk object is released here, on the owning thread: Tcl refuses to be torn down
        # from another one (as the garbage collector might do later)
        self._photo = self._label = None
        if root is not None:
            try:
                root.destroy()
            except tkinter.TclError:
                pass  # already gone
            del root

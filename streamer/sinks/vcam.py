"""A virtual camera for video-call apps, through pyvirtualcam.

Linux needs the v4l2loopback kernel module; macOS and Windows need OBS Studio's virtual camera.
Any backend registered with ``pyvirtualcam.register_backend`` can be named (tests register a
fake one).
"""

from __future__ import annotations

import glob
import logging
import sys
from typing import Any

import numpy as np

from ..errors import SinkError
from ..extras import install_hint as extra_install_hint
from ..frames import Frame
from ..sources.base import SourceInfo
from .base import Sink, fit

__all__ = ["VirtualCameraSink", "install_hint"]

logger = logging.getLogger(__name__)

_LOOPBACK_NAMES = "/sys/devices/virtual/video4linux/video*/name"


def install_hint(platform: str = sys.platform) -> str:
    """What to install for a virtual camera on ``platform``."""
    if platform.startswith("linux"):
        return ("install and load v4l2loopback: sudo apt install v4l2loopback-dkms && "
                "sudo modprobe v4l2loopback exclusive_caps=1 card_label=streamer")
    return "install OBS Studio and start its virtual camera once"


def _pyvirtualcam() -> Any:
    try:
        import pyvirtualcam
    except ImportError as exc:
        raise SinkError(f"--vcam needs pyvirtualcam: {extra_install_hint('vcam')}") from exc
    return pyvirtualcam


class VirtualCameraSink(Sink):
    """Sends stylized frames to a virtual camera device.

    :param device: the device (``/dev/video9``); None: the first free one.
    :param fps: the rate announced to apps.
    :param backend: a pyvirtualcam backend name; None: the platform's.
    """

    name = "vcam"

    def __init__(self, device: str | None = None, fps: float | None = None, backend: str | None = None) -> None:
        self.device = device
        self.fps = fps
        self.backend = backend
        self.camera: Any = None
        self._size = (0, 0)

    def check(self) -> None:
        module = _pyvirtualcam()
        if self.backend is not None:
            if self.backend not in module.camera.BACKENDS:
                raise SinkError(f"no virtual camera backend {self.backend!r} in pyvirtualcam")
            return
        if sys.platform.startswith("linux") and not glob.glob(_LOOPBACK_NAMES):
            raise SinkError(f"no virtual camera device (v4l2loopback is not loaded): {install_hint()}")

    def open(self, frame: Frame, source: SourceInfo) -> None:
        module = _pyvirtualcam()
        fps = self.fps or source.fps or 30.0
        try:
            self.camera = module.Camera(frame.width, frame.height, fps, fmt=module.PixelFormat.RGB,
                                        device=self.device, backend=self.backend)
        except (RuntimeError, ValueError, OSError) as exc:
            detail = " ".join(str(exc).split())
            raise SinkError(f"cannot open a virtual camera ({detail}); {install_hint()}") from exc
        self._size = (frame.width, frame.height)
        logger.warning("virtual camera: %s (%dx%d @ %g fps)", self.camera.device, frame.width, frame.height, fps)

    def write(self, frame: Frame) -> None:
        image = np.ascontiguousarray(fit(frame.image, *self._size))
        try:
            self.camera.send(image)
        except (RuntimeError, ValueError, OSError) as exc:
            raise SinkError(f"virtual camera {self.camera.device}: {exc}") from exc

    def close(self) -> None:
        camera, self.camera = self.camera, None
        if camera is not None:
            camera.close()

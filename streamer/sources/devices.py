"""Listing cameras and the modes they offer.

On Linux the V4L2 devices (``/dev/video*``) are asked directly with ``ioctl``: name, pixel
formats, frame sizes and frame rates. Elsewhere, OpenCV camera indexes 0-9 are probed and
their default mode is reported.
"""

from __future__ import annotations

import errno
import glob
import os
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Camera", "CameraMode", "list_cameras", "probe_v4l2"]

# ioctl request numbers: _IOR/_IOWR('V', nr, struct) on Linux
VIDIOC_QUERYCAP = 0x80685600
VIDIOC_ENUM_FMT = 0xC0405602
VIDIOC_ENUM_FRAMESIZES = 0xC02C564A
VIDIOC_ENUM_FRAMEINTERVALS = 0xC034564B

_CAPABILITY = struct.Struct("=16s32s32sIII3I")  # struct v4l2_capability
_FMTDESC = struct.Struct("=III32sII3I")  # struct v4l2_fmtdesc
_FRMSIZE = struct.Struct("=III6I2I")  # struct v4l2_frmsizeenum
_FRMIVAL = struct.Struct("=IIIII6I2I")  # struct v4l2_frmivalenum

_CAP_VIDEO_CAPTURE = 0x00000001
_CAP_DEVICE_CAPS = 0x80000000
_BUF_TYPE_VIDEO_CAPTURE = 1
_DISCRETE = 1
_MAX_ENTRIES = 64  # a driver that never says "no more" must not loop forever

Ioctl = Callable[[int, int, bytearray], Any]


@dataclass(frozen=True)
class CameraMode:
    """One pixel format at one frame size, with the frame rates offered."""

    pixel_format: str
    width: int
    height: int
    fps: tuple[float, ...] = ()

    def __str__(self) -> str:
        rates = ", ".join(f"{r:g}" for r in self.fps) or "?"
        return f"{self.width}x{self.height} {self.pixel_format} @ {rates} fps"


@dataclass
class Camera:
    """A camera that ``streamer live --input`` can open."""

    device: str  #: what to pass to ``--input`` (``/dev/video0`` or an index)
    name: str
    modes: list[CameraMode] = field(default_factory=list)
    note: str | None = None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _fourcc(code: int) -> str:
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip()


def _enumerate(fd: int, ioctl: Ioctl, request: int, layout: struct.Struct,
               head: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Call an ``ENUM`` ioctl with index 0, 1, ... until the driver says there is no more.

    Every ``ENUM`` structure starts with its ``index`` and the ``head`` fields, all ``__u32``.
    """
    for index in range(_MAX_ENTRIES):
        buffer = bytearray(layout.size)
        struct.pack_into(f"={1 + len(head)}I", buffer, 0, index, *head)
        try:
            ioctl(fd, request, buffer)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOTTY):
                return
            raise
        yield layout.unpack(bytes(buffer))


def _rates(fd: int, ioctl: Ioctl, fourcc: int, width: int, height: int) -> tuple[float, ...]:
    rates = []
    for entry in _enumerate(fd, ioctl, VIDIOC_ENUM_FRAMEINTERVALS, _FRMIVAL, (fourcc, width, height)):
        kind, numerator, denominator = entry[4], entry[5], entry[6]
        if numerator:  # discrete: the interval itself; stepwise: its minimum (the top rate)
            rates.append(round(denominator / numerator, 2))
        if kind != _DISCRETE:
            break
    return tuple(sorted(set(rates), reverse=True))


def probe_v4l2(fd: int, device: str, ioctl: Ioctl) -> Camera | None:
    """Describe the V4L2 device open as ``fd``; None if it cannot capture video."""
    buffer = bytearray(_CAPABILITY.size)
    ioctl(fd, VIDIOC_QUERYCAP, buffer)
    driver, card, _bus, _version, capabilities, device_caps, *_ = _CAPABILITY.unpack(bytes(buffer))
    caps = device_caps if capabilities & _CAP_DEVICE_CAPS else capabilities
    if not caps & _CAP_VIDEO_CAPTURE:
        return None
    camera = Camera(device, _text(card) or _text(driver))
    for fmt in _enumerate(fd, ioctl, VIDIOC_ENUM_FMT, _FMTDESC, (_BUF_TYPE_VIDEO_CAPTURE,)):
        fourcc = fmt[4]
        for size in _enumerate(fd, ioctl, VIDIOC_ENUM_FRAMESIZES, _FRMSIZE, (fourcc,)):
            kind = size[2]
            if kind == _DISCRETE:
                width, height = size[3], size[4]
            else:  # continuous or stepwise: report the largest
                width, height = size[4], size[7]
            camera.modes.append(CameraMode(_fourcc(fourcc), width, height,
                                           _rates(fd, ioctl, fourcc, width, height)))
            if kind != _DISCRETE:
                break
    return camera


def _linux_cameras(pattern: str = "/dev/video*") -> list[Camera]:
    import fcntl

    def ioctl(fd: int, request: int, buffer: bytearray) -> Any:
        return fcntl.ioctl(fd, request, buffer, True)

    cameras = []
    for device in sorted(glob.glob(pattern), key=lambda p: (len(p), p)):
        try:
            fd = os.open(device, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            cameras.append(Camera(device, "?", note=f"cannot open: {exc.strerror}"))
            continue
        try:
            camera = probe_v4l2(fd, device, ioctl)
        except OSError as exc:
            camera = Camera(device, "?", note=f"cannot query: {exc.strerror}")
        finally:
            os.close(fd)
        if camera is not None:
            cameras.append(camera)
    return cameras


def _opencv_cameras(count: int = 10, capture_factory: Callable[..., Any] | None = None) -> list[Camera]:
    import cv2

    factory = capture_factory or cv2.VideoCapture
    cameras = []
    for index in range(count):
        capture = factory(index)
        try:
            if not capture.isOpened():
                continue
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0)
            mode = CameraMode("default", width, height, (fps,) if fps else ())
            cameras.append(Camera(str(index), f"camera {index}", [mode],
                                  note="modes are not listed on this platform; the default is shown"))
        finally:
            capture.release()
    return cameras


def list_cameras(platform: str = sys.platform) -> list[Camera]:
    """The cameras on this machine, with their modes where the platform tells them."""
    if platform.startswith("linux"):
        return _linux_cameras()
    return _opencv_cameras()

"""Rotated and mirrored video (phone recordings): turning coded frames the way players show them.

A phone records its sensor's landscape frames and stores how to show them (MP4/MOV/Matroska
*display matrix*, e.g. "rotate 90 degrees"; photos: the EXIF orientation tag). ``convert`` turns
every frame upright before it is stylized and writes upright frames with no rotation: the style
is painted the way the viewer sees the picture (brush strokes keep their direction), and every
container plays the result the same way, AVI and MPEG-TS included, which have no rotation field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

__all__ = ["EXIF_ORIENTATIONS", "Orientation", "exif_orientation", "orientation_of"]

_DISPLAY_MATRIX = SideDataType.DISPLAYMATRIX


@dataclass(frozen=True)
class Orientation:
    """How to turn a coded frame into the frame as displayed.

    :param transpose: swap rows and columns first (a quarter turn, with a flip).
    :param flip_rows: then reverse the rows (upside down).
    :param flip_columns: then reverse the columns (mirror).
    :param degrees: the rotation players apply, counter-clockwise (PyAV's ``VideoFrame.rotation``).
    :param mirrored: the matrix also mirrors the picture.
    """

    transpose: bool = False
    flip_rows: bool = False
    flip_columns: bool = False
    degrees: int = 0
    mirrored: bool = False

    @property
    def identity(self) -> bool:
        """True when frames are shown as coded."""
        return not (self.transpose or self.flip_rows or self.flip_columns)

    def displayed_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of a ``width`` x ``height`` coded frame as displayed."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The coded ``H x W x C`` image as displayed (a contiguous copy when it changes)."""
        if self.identity:
            return image
        view = image.transpose(1, 0, 2) if self.transpose else image
        if self.flip_rows:
            view = view[::-1]
        if self.flip_columns:
            view = view[:, ::-1]
        return np.ascontiguousarray(view)

    def describe(self) -> str:
        """E.g. ``"rotated 90 degrees clockwise"`` or ``"mirrored"``."""
        parts = []
        if self.degrees:
            turn = "counter-clockwise" if 0 < self.degrees < 180 else "" if self.degrees in (180, -180) else "clockwise"
            parts.append(f"rotated {abs(self.degrees)} degrees {turn}".rstrip())
        if self.mirrored:
            parts.append("mirrored")
        return " and ".join(parts) or "upright"


def _from_matrix(matrix: tuple[int, ...], degrees: int) -> Orientation:
    """Orientation from FFmpeg's display matrix (9 int32, 2x2 part in 16.16 fixed point).

    A coded pixel (x, y) is shown at (a*x + c*y, b*x + d*y) (plus a translation), with
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]; only quarter turns and mirrors map
    pixels onto pixels.
    """
    a, b, c, d = (round(v / 65536) for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    mirrored = a * d - b * c < 0
    if a == 0 and d == 0 and abs(b) == 1 and abs(c) == 1:  # shown x comes from coded y
        return Orientation(transpose=True, flip_rows=b < 0, flip_columns=c < 0, degrees=degrees,
                           mirrored=mirrored)
    if b == 0 and c == 0 and abs(a) == 1 and abs(d) == 1:
        return Orientation(flip_rows=d < 0, flip_columns=a < 0, degrees=degrees, mirrored=mirrored)
    raise ValueError(f"display matrix {matrix[:2]}/{matrix[3:5]} is not a quarter turn")


def orientation_of(frame: av.VideoFrame) -> tuple[Orientation, str | None]:
    """The display orientation of a decoded frame, and a notice when it cannot be applied.

    Rotations that are not a multiple of 90 degrees are rounded to the nearest quarter turn.
    """
    side_data: Any = frame.side_data  # a Mapping keyed by side data type (PyAV's stub types keys as str)
    found = side_data.get(_DISPLAY_MATRIX)
    data = bytes(found) if found is not None else None
    if data is None or len(data) < 36:
        return Orientation(), None
    matrix = struct.unpack("=9i", data[:36])
    degrees = int(round(frame.rotation)) if frame.rotation is not None else 0
    try:
        return _from_matrix(matrix, degrees), None
    except ValueError:
        quarter = int(round(degrees / 90.0)) % 4
        rounded = {0: Orientation(), 1: Orientation(transpose=True, flip_rows=True, degrees=90),
                   2: Orientation(flip_rows=True, flip_columns=True, degrees=180),
                   3: Orientation(transpose=True, flip_columns=True, degrees=-90)}[quarter]
        return rounded, f"display rotation of {degrees} degrees rounded to {rounded.degrees}"


#: EXIF orientation tag (0x0112) value -> how to show the stored image
EXIF_ORIENTATIONS = {
    2: Orientation(flip_columns=True, mirrored=True),
    3: Orientation(flip_rows=True, flip_columns=True, degrees=180),
    4: Orientation(flip_rows=True, degrees=180, mirrored=True),
    5: Orientation(transpose=True, degrees=90, mirrored=True),
    6: Orientation(transpose=True, flip_columns=True, degrees=-90),
    7: Orientation(transpose=True, flip_rows=True, flip_columns=True, degrees=-90, mirrored=True),
    8: Orientation(transpose=True, flip_rows=True, degrees=90),
}


def exif_orientation(path: str | Path) -> Orientation:
    """How to show the image file at ``path`` (its EXIF orientation; upright when it has none)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            value = image.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):
        return Orientation()
    return EXIF_ORIENTATIONS.get(int(value), Orientation())

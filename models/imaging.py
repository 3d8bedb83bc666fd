"""Small image helpers shared by data generation, evaluation and tests (RGB, float32 in [0, 1])."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from streamer.inference.imaging import resize as streamer_resize


def load_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as uint8 RGB ``[H, W, 3]``."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def save_rgb(path: Path | str, image: np.ndarray, quality: int = 85) -> None:
    """Write uint8 or [0, 1] float RGB as an image file (JPEG quality for ``.jpg``)."""
    if image.dtype != np.uint8:
        image = to_uint8(image)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]."""
    return image.astype(np.float32) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 (rounded, clipped)."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def center_square(image: np.ndarray) -> np.ndarray:
    """Largest centred square crop."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (area filter when shrinking 2x or more): streamer's own rule, so training
    data is resized exactly as frames are at run time."""
    return streamer_resize(image, height, width)


def style_input(image: np.ndarray, size: int = 256) -> np.ndarray:
    """Magenta's predictor preprocessing: centre square, bilinear resize, /255 -> ``[size, size, 3]``."""
    square = center_square(image)
    resized = cv2.resize(square, (size, size), interpolation=cv2.INTER_LINEAR)
    return to_float(resized)

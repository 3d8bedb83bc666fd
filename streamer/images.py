"""Decoding still images (style images, and image files given to ``convert``) safely.

Inputs are normalised to 8-bit RGB, with these documented conversions:

* grayscale, palette and bilevel images -> RGB;
* 16-bit and 32-bit images -> 8-bit (scaled by the format's full range, not clipped);
* CMYK -> RGB (Pillow's conversion);
* transparency -> composited over white for the model; the alpha channel is returned
  separately so an image written back can keep it;
* animated images (GIF, APNG, WebP) -> the first frame (``DecodedImage.frames`` says how many).

Refused with :class:`~streamer.errors.StyleError` (or the ``error`` class passed in): missing or
empty files, data that is not an image, truncated files, and images over ``max_pixels``
(decompression bombs are caught before any pixel is decoded).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import StreamerError, StyleError

__all__ = ["DEFAULT_MAX_PIXELS", "DecodedImage", "decode_image", "read_image"]

#: refuse images with more pixels than this (about 8K x 5K)
DEFAULT_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class DecodedImage:
    """An image as 8-bit RGB, with what was done to get there."""

    rgb: np.ndarray  #: H x W x 3 uint8
    alpha: np.ndarray | None  #: H x W uint8, if the file had transparency
    format: str  #: Pillow's format name, e.g. "PNG"
    mode: str  #: the file's original pixel mode, e.g. "RGBA", "I;16", "CMYK"
    frames: int  #: frames in the file (only the first is used)

    @property
    def conversions(self) -> list[str]:
        """Human-readable list of the conversions applied."""
        notes = []
        if self.mode not in ("RGB", "RGBA"):
            notes.append(f"{self.mode} converted to 8-bit RGB")
        if self.alpha is not None:
            notes.append("transparency composited over white")
        if self.frames > 1:
            notes.append(f"first of {self.frames} frames used")
        return notes


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS,
               error: type[StreamerError] = StyleError) -> tuple[DecodedImage, bytes]:
    """Read and decode an image file; return it with the file's bytes (for hashing)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise error(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise error(f"{path} is a directory, not an image") from exc
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from exc
    return decode_image(data, str(path), max_pixels, error), data


def decode_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
                 error: type[StreamerError] = StyleError) -> DecodedImage:
    """Decode image bytes (see the module docstring for the rules)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise error(f"{name} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise error(f"{name} has too many pixels, over the limit of {max_pixels / 1e6:.0f} megapixels") from exc
    except UnidentifiedImageError as exc:
        raise error(f"{name} is not an image this program can read") from exc
    except OSError as exc:
        raise error(f"{name} cannot be decoded: {exc}") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise error(f"{name} is {width}x{height} = {width * height / 1e6:.0f} megapixels, over the "
                    f"limit of {max_pixels / 1e6:.0f} megapixels")
    if width < 1 or height < 1:
        raise error(f"{name} has no pixels")
    frames = int(getattr(image, "n_frames", 1) or 1)
    mode = image.mode
    fast = _decode_plain_png(data, image) if frames == 1 else None
    if fast is not None:
        return DecodedImage(fast, None, "PNG", mode, frames)
    try:
        image.seek(0)
        image.load()
        rgb, alpha = _to_rgb8(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise error(f"{name} is truncated or corrupt: {exc}") from exc
    return DecodedImage(rgb, alpha, image.format or "unknown", mode, frames)


#: a complete PNG ends with an empty IEND chunk and its CRC
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _decode_plain_png(data: bytes, image: object) -> np.ndarray | None:
    """An 8-bit RGB PNG without transparency, decoded by OpenCV; None for anything else.

    The same pixels as Pillow's (PNG is lossless), but OpenCV decodes straight into the array
    without holding the GIL, where Pillow holds it to allocate the image and again to copy it
    into numpy: 16 megapixels held it for tens of milliseconds, which stalled the server's
    event loop (and, at a lower priority, longer). Truncated files go to Pillow, for its error.
    """
    import cv2
    from PIL import Image

    assert isinstance(image, Image.Image)
    tiles = getattr(image, "tile", [])  # an ImageFile's: what the decoder will read
    tile = tiles[0] if len(tiles) == 1 else None
    if (image.format != "PNG" or image.mode != "RGB" or "transparency" in image.info or tile is None
            or tile.args != "RGB" or not data.endswith(_PNG_END)):
        return None
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None or bgr.shape[:2] != (image.height, image.width):
        return None
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr), dtype=np.uint8)


def _to_rgb8(image: object) -> tuple[np.ndarray, np.ndarray | None]:
    from PIL import Image

    assert isinstance(image, Image.Image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        full = 65535.0 if image.mode.startswith("I;16") else (1.0 if image.mode == "F" else max(values.max(), 1.0))
        gray = np.clip(values / full * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2), None
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3].copy()
        weight = alpha[..., None].astype(np.float32) / 255.0
        rgb = rgba[..., :3].astype(np.float32) * weight + 255.0 * (1.0 - weight)
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8), alpha
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))), None

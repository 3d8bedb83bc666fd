"""Stylizing one still image into an image file of the same kind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np

from ..config import ProcessingSize, QueuePolicy
from ..engine import Engine
from ..errors import DecodeError, SinkError
from ..frames import Frame
from ..images import read_image
from ..sinks.file import temporary_path
from ..sources.orientation import exif_orientation
from ..styles import StyleRecipe

__all__ = ["convert_image"]

_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


async def convert_image(engine: Engine, source: Path, destination: Path, recipe: StyleRecipe,
                        size: ProcessingSize) -> list[str]:
    """Stylize ``source`` into ``destination`` (JPEG, PNG or WebP by extension).

    Transparency is kept for PNG/WebP outputs; a photo with an EXIF orientation is stylized
    and written upright (the output carries no EXIF). Returns notes on conversions applied.
    """
    decoded, _ = await asyncio.to_thread(read_image, source, error=DecodeError)
    orientation = await asyncio.to_thread(exif_orientation, source)
    rgb = orientation.apply(decoded.rgb)
    alpha = None if decoded.alpha is None else orientation.apply(decoded.alpha[..., None])[..., 0]
    notes = list(decoded.conversions)
    if not orientation.identity:
        notes.append(f"{orientation.describe()} for display (EXIF): written upright")
    stream = engine.open_stream(f"image:{source.name}", QueuePolicy.LOSSLESS, capacity=1, size=size)
    try:
        await stream.set_style(recipe)
        stylized = (await stream.stylize(Frame(rgb))).image
    finally:
        stream.close()
    await asyncio.to_thread(_write_image, destination, stylized, alpha)
    return notes


def _write_image(destination: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    from PIL import Image

    fmt = _PIL_FORMATS.get(destination.suffix.lower())
    if fmt is None:
        raise SinkError(f"cannot write {destination.suffix} images; use .jpg, .png or .webp")
    image = Image.fromarray(rgb, "RGB")
    if alpha is not None and fmt in ("PNG", "WEBP"):
        image.putalpha(Image.fromarray(alpha, "L"))
    temp = temporary_path(destination)
    try:
        options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        image.save(temp, fmt, **options)
        os.replace(temp, destination)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise SinkError(f"cannot write {destination}: {exc}") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise

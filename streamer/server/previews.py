"""Small pictures of the gallery styles: a fixed synthetic scene painted in each style, made once."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np

from ..config import ProcessingSize, QueuePolicy
from ..engine import Engine, EngineStream
from ..frames import Frame
from ..styles import StyleRecipe
from .styling import Gallery

__all__ = ["PreviewMaker", "preview_scene"]

PREVIEW_SIZE = 128


def preview_scene(size: int = PREVIEW_SIZE) -> np.ndarray:
    """A deterministic RGB scene (sky, sun, hills, a house) that shows off a style's palette."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.zeros((size, size, 3), np.float32)
    image[...] = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], axis=-1)
    sun = (x - 0.75) ** 2 + (y - 0.25) ** 2 < 0.012
    image[sun] = (1.0, 0.85, 0.3)
    hills = y > 0.62 + 0.08 * np.sin(x * 9.0)
    image[hills] = np.stack([0.2 + 0.2 * x, 0.55 - 0.2 * y, 0.2 + 0.0 * x], axis=-1)[hills]
    house = (x > 0.18) & (x < 0.42) & (y > 0.5) & (y < 0.75)
    image[house] = (0.8, 0.3, 0.25)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


class PreviewMaker:
    """Makes and caches JPEG previews of gallery styles on the engine's inference thread.

    :param engine: the running engine.
    :param gallery: the styles that may be previewed (nothing else is).
    """

    def __init__(self, engine: Engine, gallery: Gallery) -> None:
        self._engine = engine
        self._gallery = gallery
        self._stream: EngineStream | None = None
        self._cache: dict[str, bytes] = {}
        self._lock = asyncio.Lock()
        self._scene = preview_scene()

    async def preview(self, name: str) -> bytes | None:
        """JPEG bytes of ``name`` painted on the preview scene; None if it is not in the gallery."""
        if name not in self._gallery:
            return None
        async with self._lock:
            if name not in self._cache:
                if self._stream is None:
                    self._stream = self._engine.open_stream("gallery-previews", QueuePolicy.LOSSLESS, capacity=1,
                                                            size=ProcessingSize(PREVIEW_SIZE),
                                                            lookup=self._gallery.embedding)
                await self._stream.set_style(StyleRecipe.of(name))
                result = await self._stream.stylize(Frame(self._scene))
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR),
                                        [cv2.IMWRITE_JPEG_QUALITY, 85])
                if not ok:
                    return None
                self._cache[name] = jpeg.tobytes()
            return self._cache[name]

    def close(self) -> None:
        """Close the engine stream (if one was opened)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

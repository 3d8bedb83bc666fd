"""Style names to embeddings: built-in names, style image files, uploads and ``.npy`` files.

Images are decoded on a worker thread and embedded by the predictor on the inference thread,
so neither ever runs on the event loop; embeddings are cached by image content.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np

from ..errors import StyleError
from ..images import DEFAULT_MAX_PIXELS, decode_image, read_image
from ..inference.imaging import STYLE_PREPROCESSING_VERSION
from .builtin import BuiltinStyle
from .cache import EmbeddingCache, embedding_key
from .mixer import EmbedImage, check_embedding

__all__ = ["StyleResolver"]

logger = logging.getLogger(__name__)


class StyleResolver:
    """Resolves style specs to embeddings, running the predictor only on cache misses.

    :param embed_image: runs the predictor on an RGB image (on the inference thread).
    :param builtins: the built-in styles by name.
    :param cache: embedding cache (memory + disk).
    :param predictor_sha256: checksum of the predictor file, part of the cache key.
    """

    def __init__(self, embed_image: EmbedImage, builtins: dict[str, BuiltinStyle], cache: EmbeddingCache,
                 predictor_sha256: str | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self._embed_image = embed_image
        self.builtins = builtins
        self.cache = cache
        self._predictor_sha256 = predictor_sha256
        self.max_pixels = max_pixels

    @property
    def has_predictor(self) -> bool:
        """True if style images (and strength below 1) can be embedded."""
        return self._predictor_sha256 is not None

    async def embedding(self, spec: str | Path) -> np.ndarray:
        """Embedding of one built-in name, style image path or ``.npy`` file."""
        text = str(spec)
        if text in self.builtins:
            return self.builtins[text].embedding
        path = Path(text).expanduser()
        if path.suffix.lower() == ".npy" and path.is_file():
            return _load_npy(path)
        if not path.exists():
            names = ", ".join(sorted(self.builtins)) or "none"
            raise StyleError(f"unknown style {text!r}: not a built-in style ({names}) and no such file")
        decoded, data = await asyncio.to_thread(read_image, path, self.max_pixels)
        for note in decoded.conversions:
            logger.info("style %s: %s", path.name, note)
        return await self._cached_embedding(data, decoded.rgb)

    async def embedding_from_bytes(self, data: bytes, name: str = "upload") -> np.ndarray:
        """Embedding of an uploaded style image (same checks and cache as files)."""
        decoded = await asyncio.to_thread(decode_image, data, name, self.max_pixels)
        return await self._cached_embedding(data, decoded.rgb)

    def _require_predictor(self, why: str) -> str:
        if self._predictor_sha256 is None:
            raise StyleError(f"{why} needs a style predictor, and this model set has none")
        return self._predictor_sha256

    async def _cached_embedding(self, data: bytes, rgb: np.ndarray) -> np.ndarray:
        key = embedding_key(data, self._require_predictor("a style image"), STYLE_PREPROCESSING_VERSION)
        found = self.cache.get(key)
        if found is not None:
            return found
        embedding = await self._embed_image(rgb)
        self.cache.put(key, embedding)
        return embedding


def _load_npy(path: Path) -> np.ndarray:
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StyleError(f"{path} is not a readable .npy embedding: {exc}") from exc
    return check_embedding(value, str(path))

"""Turning what the user asked for (names, image files, strength, mix) into one embedding."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, StyleError
from ..images import DEFAULT_MAX_PIXELS, decode_image, read_image
from ..inference.imaging import STYLE_PREPROCESSING_VERSION
from ..inference.modelfile import EMBEDDING_DIM
from .builtin import BuiltinStyle
from .cache import EmbeddingCache, embedding_key

__all__ = ["StyleRecipe", "StyleResolver", "blend"]

logger = logging.getLogger(__name__)

EmbedImage = Callable[[np.ndarray], Awaitable[np.ndarray]]


def blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Linear blend of two embeddings: ``(1 - t) * a + t * b``."""
    return ((1.0 - t) * a + t * b).astype(np.float32)


def _check_unit(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0 or value != value:
        raise ConfigError(f"{name} must be between 0 and 1, got {value}")
    return float(value)


@dataclass(frozen=True)
class StyleRecipe:
    """One or two styles, how to mix them, and how strongly to apply the result.

    :param styles: built-in names, image paths or ``.npy`` embedding paths (one or two).
    :param mix: with two styles, the weight of the second (0 = first only, 1 = second only).
    :param strength: 1 = full style; lower values blend towards the content's own embedding
        (Magenta's recipe), 0 = the content's own look.
    """

    styles: tuple[str, ...]
    mix: float = 0.5
    strength: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= len(self.styles) <= 2:
            raise ConfigError(f"give one or two styles, not {len(self.styles)}")
        _check_unit("--mix", self.mix)
        _check_unit("--strength", self.strength)

    @classmethod
    def of(cls, styles: str | Sequence[str], mix: float | None = None, strength: float = 1.0) -> StyleRecipe:
        """Build from CLI-style values (``mix`` only makes sense with two styles)."""
        names = (styles,) if isinstance(styles, str) else tuple(styles)
        if mix is not None and len(names) != 2:
            raise ConfigError("--mix needs exactly two --style values")
        return cls(names, 0.5 if mix is None else mix, strength)

    @property
    def needs_content(self) -> bool:
        """True if the content's own embedding is needed (strength below 1)."""
        return self.strength < 1.0


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
        decoded, data = read_image(path, self.max_pixels)
        for note in decoded.conversions:
            logger.info("style %s: %s", path.name, note)
        return await self._cached_embedding(data, decoded.rgb)

    async def embedding_from_bytes(self, data: bytes, name: str = "upload") -> np.ndarray:
        """Embedding of an uploaded style image (same checks and cache as files)."""
        decoded = decode_image(data, name, self.max_pixels)
        return await self._cached_embedding(data, decoded.rgb)

    async def content_embedding(self, image: np.ndarray) -> np.ndarray:
        """The content's own embedding (for ``strength`` below 1); not cached on disk."""
        self._require_predictor("--strength below 1")
        return await self._embed_image(image)

    async def resolve(self, recipe: StyleRecipe, content: np.ndarray | None = None) -> np.ndarray:
        """The embedding ``recipe`` describes; ``content`` (an RGB frame) is needed if
        ``recipe.needs_content``."""
        embeddings = [await self.embedding(s) for s in recipe.styles]
        style = embeddings[0] if len(embeddings) == 1 else blend(embeddings[0], embeddings[1], recipe.mix)
        if not recipe.needs_content:
            return style
        if content is None:
            raise ConfigError("--strength below 1 needs a content frame")
        own = await self.content_embedding(content)
        return blend(own, style, recipe.strength)

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
    value = np.asarray(value, dtype=np.float32).reshape(-1)
    if value.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(value)):
        raise StyleError(f"{path} must hold {EMBEDDING_DIM} finite values, got shape {value.shape}")
    return value

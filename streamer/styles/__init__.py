"""Styles: recipes (what to paint with), names to embeddings, the cache, and composition.

``StyleRecipe`` (what the user asked for) -> ``StyleResolver`` (names, images, ``.npy`` files
to embeddings, cached) -> ``StyleMixer`` (one stream's embedding per frame: mix, strength).
"""

from .builtin import BuiltinStyle, load_builtin_styles
from .cache import EmbeddingCache, default_cache_dir
from .mixer import CONTENT_REFRESH_SECONDS, StyleMixer, blend
from .recipe import StyleRecipe
from .resolver import StyleResolver

__all__ = [
    "CONTENT_REFRESH_SECONDS",
    "BuiltinStyle",
    "EmbeddingCache",
    "StyleMixer",
    "StyleRecipe",
    "StyleResolver",
    "blend",
    "default_cache_dir",
    "load_builtin_styles",
]

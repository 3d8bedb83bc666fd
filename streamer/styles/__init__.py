"""Style embeddings: built-in styles, style images, the cache, and blending."""

from .builtin import BuiltinStyle, load_builtin_styles
from .cache import EmbeddingCache, default_cache_dir
from .resolver import StyleRecipe, StyleResolver, blend

__all__ = [
    "BuiltinStyle",
    "EmbeddingCache",
    "StyleRecipe",
    "StyleResolver",
    "blend",
    "default_cache_dir",
    "load_builtin_styles",
]

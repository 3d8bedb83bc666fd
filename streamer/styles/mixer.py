"""Composing one stream's embedding: its recipe's styles, mixed, blended with the content's own.

This is the one composition path (file conversion, live streams and server sessions all paint
through it).

**The content's own embedding** (what ``strength`` below 1 blends towards, Magenta's recipe) is
the style predictor run on the stream's own frames. It is computed from the first frame that
needs it and recomputed from the current frame whenever the stream's clock has moved
:data:`CONTENT_REFRESH_SECONDS` or more since (the frames' presentation times where they have
them, else their capture times), so the blend follows the scene. File conversion therefore
gives the same result on every run, and a live stream runs the predictor about once per
refresh period, not once per frame. A model set without a predictor refuses strength below 1.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np

from ..errors import StyleError
from ..frames import Frame
from ..inference.modelfile import EMBEDDING_DIM
from .recipe import StyleRecipe

__all__ = ["CONTENT_REFRESH_SECONDS", "EmbedImage", "StyleLookup", "StyleMixer", "blend"]

#: seconds of stream time after which the content's own embedding is recomputed
CONTENT_REFRESH_SECONDS = 3.0
#: style names whose embeddings a stream keeps (a live cycle, a session's recent picks)
NAMES_KEPT = 32

StyleLookup = Callable[[str], Awaitable[np.ndarray]]
EmbedImage = Callable[[np.ndarray], Awaitable[np.ndarray]]


def blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Linear blend of two embeddings: ``(1 - t) * a + t * b``."""
    return ((1.0 - t) * a + t * b).astype(np.float32)


def check_embedding(value: np.ndarray, what: str = "a style embedding") -> np.ndarray:
    """``value`` as a float32 vector of :data:`EMBEDDING_DIM` finite values (:raises StyleError:)."""
    vector = np.asarray(value, dtype=np.float32).reshape(-1)
    if vector.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(vector)):
        raise StyleError(f"{what} must hold {EMBEDDING_DIM} finite values, got shape {np.shape(value)}")
    return vector


def _frame_clock(frame: Frame) -> float:
    time = frame.time
    return frame.captured_at if time is None else time


class StyleMixer:
    """The embedding one stream paints each frame with.

    :param lookup: resolves a style name to its embedding (the engine's resolver, or a
        server session's gallery and uploads).
    :param embed_content: runs the style predictor on an RGB frame (None: no predictor).
    :param refresh: see :data:`CONTENT_REFRESH_SECONDS`.
    """

    def __init__(self, lookup: StyleLookup, embed_content: EmbedImage | None,
                 refresh: float = CONTENT_REFRESH_SECONDS) -> None:
        self._lookup = lookup
        self._embed_content = embed_content
        self._refresh = refresh
        self._recipe: StyleRecipe | None = None
        self._style: np.ndarray | None = None
        self._content: np.ndarray | None = None
        self._content_clock = 0.0
        self._named_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.content_runs = 0  #: how many times the content's own embedding was computed

    @property
    def recipe(self) -> StyleRecipe | None:
        """The recipe in use (None before :meth:`set`, or when a raw embedding was set)."""
        return self._recipe

    @property
    def is_set(self) -> bool:
        """True once a style (or an explicit pass-through recipe) was set."""
        return self._recipe is not None or self._style is not None

    async def set(self, style: StyleRecipe | np.ndarray) -> None:
        """Use ``style`` from the next frame on: a recipe, or a ready embedding (strength 1).

        Everything is resolved before anything changes, so a bad style leaves the old one.

        :raises StyleError: an unknown style, or strength below 1 without a predictor.
        """
        if isinstance(style, StyleRecipe):
            if style.needs_content and self._embed_content is None:
                raise StyleError("strength below 1 needs a style predictor, and this model set has none")
            embeddings = [await self._named(name) for name in style.styles]
            composed = None
            if embeddings:
                composed = embeddings[0] if len(embeddings) == 1 else blend(embeddings[0], embeddings[1], style.mix)
            self._recipe, self._style = style, composed
        else:
            self._recipe, self._style = None, check_embedding(style)

    async def _named(self, name: str) -> np.ndarray:
        """``name``'s embedding, looked up once per stream (a strength or mix change, or a
        cycle back to a style, reads no image again)."""
        found = self._named_cache.get(name)
        if found is None:
            found = await self._lookup(name)
            self._named_cache[name] = found
            while len(self._named_cache) > NAMES_KEPT:
                self._named_cache.popitem(last=False)
        else:
            self._named_cache.move_to_end(name)
        return found

    async def embedding_for(self, frame: Frame) -> np.ndarray | None:
        """The embedding to paint ``frame`` with (None: pass it through unchanged).

        May run the predictor on ``frame`` first (see the module's policy).
        """
        recipe, style = self._recipe, self._style
        if style is None or recipe is None or not recipe.needs_content:
            return style
        clock = _frame_clock(frame)
        if self._content is None or abs(clock - self._content_clock) >= self._refresh:
            assert self._embed_content is not None  # checked by set()
            self._content = await self._embed_content(frame.image)
            self._content_clock = clock
            self.content_runs += 1
        return blend(self._content, style, recipe.strength)

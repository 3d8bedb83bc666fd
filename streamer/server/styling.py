"""Styles on the server: the shared gallery, and each session's uploads.

A session's look is a :class:`~streamer.styles.StyleRecipe` painted by its engine stream; the
names in it are looked up here (:meth:`SessionStyles.lookup`): the gallery (built-in styles
plus the operator's ``--style`` images) or the session's own uploads (``upload-<hash>``).
Clients never name files.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, StyleError
from ..stream import EngineStream
from ..styles import BuiltinStyle, StyleRecipe, StyleResolver

__all__ = ["Gallery", "GalleryStyle", "SessionStyles", "StreamStyle", "build_gallery"]

MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class GalleryStyle:
    """A named style everyone can pick."""

    name: str
    title: str
    embedding: np.ndarray


class Gallery:
    """The styles every session can pick: built-in ones, then the operator's extra images."""

    def __init__(self, builtins: Mapping[str, BuiltinStyle], extras: Mapping[str, GalleryStyle] | None = None) -> None:
        self._styles: dict[str, GalleryStyle] = {
            name: GalleryStyle(name, style.title, style.embedding) for name, style in builtins.items()
        }
        self._styles.update(extras or {})

    def __contains__(self, name: object) -> bool:
        return name in self._styles

    def __len__(self) -> int:
        return len(self._styles)

    def get(self, name: str) -> GalleryStyle | None:
        """The style called ``name``, or None."""
        return self._styles.get(name)

    async def embedding(self, name: str) -> np.ndarray:
        """The embedding of gallery style ``name`` (a stream's lookup; :raises StyleError:)."""
        found = self._styles.get(name)
        if found is None:
            raise StyleError(f"unknown style {name!r}: pick one from /api/styles or upload an image")
        return found.embedding

    @property
    def default(self) -> str | None:
        """The style new sessions start with (the first one), or None if there are none."""
        return next(iter(self._styles), None)

    def listing(self) -> list[dict[str, str]]:
        """Names and titles, in order."""
        return [{"name": s.name, "title": s.title} for s in self._styles.values()]


class SessionStyles:
    """One session's styles: the gallery and its own uploads.

    :param gallery: the shared styles.
    :param resolver: the engine's resolver (predictor, cache by content hash).
    :param max_uploads: uploads kept per session (the oldest is forgotten first).
    """

    def __init__(self, gallery: Gallery, resolver: StyleResolver, max_uploads: int = 8) -> None:
        self._gallery = gallery
        self._resolver = resolver
        self._max_uploads = max_uploads
        self._uploads: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def uploads(self) -> list[str]:
        """Names of this session's uploaded styles."""
        return list(self._uploads)

    async def add_upload(self, data: bytes) -> str:
        """Embed an uploaded style image (predictor runs once per distinct image); return its name."""
        embedding = await self._resolver.embedding_from_bytes(data, "uploaded style image")
        name = "upload-" + hashlib.sha256(data).hexdigest()[:12]
        self._uploads[name] = embedding
        self._uploads.move_to_end(name)
        while len(self._uploads) > self._max_uploads:
            self._uploads.popitem(last=False)
        return name

    async def lookup(self, name: str) -> np.ndarray:
        """The embedding called ``name`` (the session stream's lookup; :raises StyleError:)."""
        if name in self._uploads:
            return self._uploads[name]
        return await self._gallery.embedding(name)

    def release(self) -> None:
        """Forget uploads (session closed)."""
        self._uploads.clear()


class StreamStyle:
    """What one client's stream is painted with: its recipe, its uploads, and the one way to
    change them (a session, a room participant, a published stream).

    Open the stream with :attr:`lookup`, then :meth:`bind` it.

    :param gallery: the shared styles (the recipe starts with the first one).
    :param resolver: the engine's resolver (embeds uploads).
    """

    def __init__(self, gallery: Gallery, resolver: StyleResolver) -> None:
        self.styles = SessionStyles(gallery, resolver)
        self.recipe = StyleRecipe(() if gallery.default is None else (gallery.default,))
        self.lookup = self.styles.lookup  #: the stream's style lookup
        self._stream: EngineStream | None = None
        self._lock = asyncio.Lock()

    def bind(self, stream: EngineStream) -> None:
        """Paint ``stream`` with this style from now on."""
        self._stream = stream

    async def update(self, fields: Mapping[str, object]) -> StyleRecipe:
        """Change style, style2, mix or strength; applies to the next frame.

        :raises ConfigError: a field has a bad value.
        :raises StyleError: an unknown style, or strength below 1 without a predictor.
        """
        async with self._lock:
            recipe = self.recipe.updated(fields)
            if self._stream is not None:
                await self._stream.set_style(recipe)
            self.recipe = recipe
            return recipe

    async def upload(self, data: bytes, apply: bool = True) -> str:
        """Add an uploaded style image; make it the main style if ``apply``. Returns its name."""
        name = await self.styles.add_upload(data)
        if apply:
            await self.update({"style": name})
        return name

    def as_dict(self) -> dict[str, object]:
        """The recipe's fields and the upload names (JSON-friendly)."""
        return {**self.recipe.as_dict(), "uploads": self.styles.uploads}

    def release(self) -> None:
        """Forget uploads (the stream ended)."""
        self.styles.release()


def _gallery_name(spec: str) -> tuple[str, str]:
    """``NAME=IMAGE`` or ``IMAGE`` -> (name, path); the name defaults to the file's stem."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).stem, spec
    clean = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-")
    if not clean or not path:
        raise ConfigError(f"invalid --style {spec!r}: use IMAGE or NAME=IMAGE")
    return clean[:MAX_NAME_LENGTH], path


async def build_gallery(resolver: StyleResolver, extra: Sequence[str] = ()) -> Gallery:
    """The built-in styles plus the operator's style images (``IMAGE`` or ``NAME=IMAGE``).

    :raises StyleError: an image cannot be used (read once, at startup).
    """
    extras: dict[str, GalleryStyle] = {}
    for spec in extra:
        name, path = _gallery_name(spec)
        embedding = await resolver.embedding(path)
        extras[name] = GalleryStyle(name, Path(path).stem.replace("_", " "), embedding)
    return Gallery(resolver.builtins, extras)

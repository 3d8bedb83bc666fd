"""Styles on the server: the shared gallery, each session's uploads, and composing one embedding.

A session's look is a :class:`StyleChoice`: a style, optionally a second style mixed in with
weight ``mix``, and a ``strength`` that blends the result with the camera's own embedding
(Magenta's recipe). Names refer to the gallery (built-in styles plus the operator's
``--style`` images) or to the session's own uploads (``upload-<hash>``).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, StyleError
from ..styles import BuiltinStyle, StyleResolver, blend

__all__ = ["Gallery", "GalleryStyle", "SessionStyles", "StyleChoice", "build_gallery"]

#: how often (seconds) the camera's own embedding is refreshed while strength < 1
CONTENT_REFRESH_SECONDS = 3.0
MAX_NAME_LENGTH = 100


def _unit(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a number between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key} must be between 0 and 1, got {value}")
    return float(value)


def _name(data: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = data.get(key, default)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        raise ConfigError(f"{key} must be a style name")
    return value


@dataclass(frozen=True)
class StyleChoice:
    """What a session paints with.

    :param style: the main style's name (None: frames pass through unchanged).
    :param style2: a second style to mix in (None: none).
    :param mix: weight of ``style2`` (0 = only ``style``, 1 = only ``style2``).
    :param strength: 1 = full style, 0 = the camera's own look.
    """

    style: str | None = None
    style2: str | None = None
    mix: float = 0.5
    strength: float = 1.0

    def updated(self, data: Mapping[str, Any]) -> StyleChoice:
        """A copy with the keys present in ``data`` changed (validated; :raises ConfigError:)."""
        unknown = set(data) - {"style", "style2", "mix", "strength", "type", "id"}
        if unknown:
            raise ConfigError(f"unknown field(s): {', '.join(sorted(unknown))}")
        return replace(
            self,
            style=_name(data, "style", self.style),
            style2=_name(data, "style2", self.style2),
            mix=_unit(data, "mix", self.mix),
            strength=_unit(data, "strength", self.strength),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"style": self.style, "style2": self.style2, "mix": self.mix, "strength": self.strength}


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

    @property
    def default(self) -> str | None:
        """The style new sessions start with (the first one), or None if there are none."""
        return next(iter(self._styles), None)

    def listing(self) -> list[dict[str, str]]:
        """Names and titles, in order."""
        return [{"name": s.name, "title": s.title} for s in self._styles.values()]


class SessionStyles:
    """One session's styles: the gallery, its own uploads, and the camera's embedding.

    :param gallery: the shared styles.
    :param resolver: the engine's resolver (predictor, cache by content hash).
    :param max_uploads: uploads kept per session (the oldest is forgotten first).
    """

    def __init__(self, gallery: Gallery, resolver: StyleResolver, max_uploads: int = 8) -> None:
        self._gallery = gallery
        self._resolver = resolver
        self._max_uploads = max_uploads
        self._uploads: OrderedDict[str, np.ndarray] = OrderedDict()
        self._content: np.ndarray | None = None
        self._content_at = 0.0

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

    def lookup(self, name: str) -> np.ndarray:
        """The embedding called ``name`` (:raises StyleError: if there is none)."""
        if name in self._uploads:
            return self._uploads[name]
        found = self._gallery.get(name)
        if found is None:
            raise StyleError(f"unknown style {name!r}: pick one from /api/styles or upload an image")
        return found.embedding

    def content_is_stale(self) -> bool:
        """True if the camera's embedding should be recomputed."""
        return self._content is None or time.monotonic() - self._content_at > CONTENT_REFRESH_SECONDS

    async def refresh_content(self, rgb: np.ndarray) -> None:
        """Recompute the camera's own embedding from ``rgb`` (a recent frame)."""
        self._content = await self._resolver.content_embedding(rgb)
        self._content_at = time.monotonic()

    async def compose(self, choice: StyleChoice, frame_rgb: np.ndarray | None) -> np.ndarray | None:
        """The embedding ``choice`` describes (None: pass frames through).

        Strength below 1 needs the camera's own embedding; until a frame has arrived the full
        style is used.
        """
        if choice.style is None:
            return None
        style = self.lookup(choice.style)
        if choice.style2 is not None:
            style = blend(style, self.lookup(choice.style2), choice.mix)
        if choice.strength >= 1.0:
            return style
        if self._content is None and frame_rgb is not None:
            await self.refresh_content(frame_rgb)
        if self._content is None:
            return style
        return blend(self._content, style, choice.strength)

    def release(self) -> None:
        """Forget uploads and the camera's embedding (session closed)."""
        self._uploads.clear()
        self._content = None


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

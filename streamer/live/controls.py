"""Changing the style and its strength while a session runs.

Keys (in the terminal or the preview window) and signals become :class:`Command` values;
:class:`StyleControl` applies them and holds the embedding the next frame is painted with.

============  ==========================  ===============================
key           signal                      command
============  ==========================  ===============================
``n`` space   ``SIGUSR1``                 next style
``p``                                     previous style
``+`` ``=``                               stronger (+0.1)
``-``         ``SIGUSR2``                 weaker (-0.1; wraps to 1 below 0)
``q`` Esc     ``SIGINT`` ``SIGTERM``      stop (recordings are finalized)
============  ==========================  ===============================
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import StreamerError
from ..styles import StyleRecipe, StyleResolver, blend

__all__ = ["KEYS", "Command", "StyleControl"]

logger = logging.getLogger(__name__)


class Command(enum.StrEnum):
    """What a key press or a signal asks for."""

    NEXT_STYLE = "next-style"
    PREVIOUS_STYLE = "previous-style"
    STRONGER = "stronger"
    WEAKER = "weaker"
    WEAKER_WRAP = "weaker-wrap"
    STOP = "stop"


KEYS: dict[str, Command] = {
    "n": Command.NEXT_STYLE,
    " ": Command.NEXT_STYLE,
    "p": Command.PREVIOUS_STYLE,
    "+": Command.STRONGER,
    "=": Command.STRONGER,
    "-": Command.WEAKER,
    "q": Command.STOP,
    "\x1b": Command.STOP,
}

STRENGTH_STEP = 0.1


class StyleControl:
    """The current style (one entry of a cycle) and strength, as an embedding.

    :param resolver: the engine's style resolver (``engine.styles``).
    :param recipe: what the session starts with.
    :param cycle: more style specs that "next style" steps through after ``recipe``.
    """

    def __init__(self, resolver: StyleResolver, recipe: StyleRecipe, cycle: Sequence[str] = ()) -> None:
        self._resolver = resolver
        self._entries: list[StyleRecipe] = [recipe] + [
            StyleRecipe.of(spec) for spec in cycle if (spec,) != recipe.styles]
        self._index = 0
        self.strength = recipe.strength
        self.embedding: np.ndarray | None = None
        self._styles: dict[int, np.ndarray] = {}
        self._content: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        """Display names of the styles in the cycle."""
        return [_display(r) for r in self._entries]

    @property
    def style_name(self) -> str:
        """Display name of the current style."""
        return self.names[self._index]

    @property
    def label(self) -> str:
        """``starry @ 0.80 (2/5)``."""
        return f"{self.style_name} @ {self.strength:.2f} ({self._index + 1}/{len(self._entries)})"

    async def load(self) -> None:
        """Resolve the first style now, so a bad style fails before anything starts."""
        await self._style(self._index)

    async def prepare(self, content: np.ndarray) -> np.ndarray:
        """Resolve the first style (``content``: a captured RGB frame, for strength below 1)."""
        self._content = content
        return await self._update()

    async def apply(self, command: Command, content: np.ndarray | None = None) -> str:
        """Apply ``command``; return a message saying what is painted now."""
        if self._content is None:
            self._content = content
        before = (self._index, self.strength)
        count = len(self._entries)
        if command in (Command.NEXT_STYLE, Command.PREVIOUS_STYLE):
            if count == 1:
                return f"only one style ({self.style_name}); give more with --cycle"
            self._index = (self._index + (1 if command is Command.NEXT_STYLE else -1)) % count
        elif command is Command.STRONGER:
            self.strength = min(1.0, round(self.strength + STRENGTH_STEP, 2))
        elif command is Command.WEAKER:
            self.strength = max(0.0, round(self.strength - STRENGTH_STEP, 2))
        elif command is Command.WEAKER_WRAP:
            weaker = round(self.strength - STRENGTH_STEP, 2)
            self.strength = 1.0 if weaker < 0 else weaker
        try:
            await self._update()
        except StreamerError as exc:
            self._index, self.strength = before
            return f"cannot switch: {exc}"
        return f"style {self.label}"

    async def _style(self, index: int) -> np.ndarray:
        style = self._styles.get(index)
        if style is None:
            style = await self._resolver.resolve(dataclasses.replace(self._entries[index], strength=1.0))
            self._styles[index] = style
        return style

    async def _update(self) -> np.ndarray:
        style = await self._style(self._index)
        if self.strength < 1.0:
            own = await self._content_embedding()
            style = blend(own, style, self.strength)
        self.embedding = style
        return style

    async def _content_embedding(self) -> np.ndarray:
        if self._content is None:
            raise StreamerError("strength below 1 needs a captured frame first")
        own = self._styles.get(-1)
        if own is None:
            own = await self._resolver.content_embedding(self._content)
            self._styles[-1] = own
        return own


def _display(recipe: StyleRecipe) -> str:
    names = [Path(s).stem if ("/" in s or "." in s) else s for s in recipe.styles]
    if len(names) == 2:
        return f"{names[0]}+{names[1]} ({recipe.mix:.2f})"
    return names[0]

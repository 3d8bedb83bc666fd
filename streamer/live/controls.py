"""Changing the style and its strength while a session runs.

Keys (in the terminal or the preview window) and signals become :class:`Command` values;
:class:`StyleControl` turns them into the next :class:`~streamer.styles.StyleRecipe` and hands
it to the session's engine stream (:meth:`~streamer.stream.EngineStream.set_style`).

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
from collections.abc import Sequence

from ..errors import StreamerError
from ..stream import EngineStream
from ..styles import StyleRecipe

__all__ = ["KEYS", "Command", "StyleControl"]


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
    """The current style (one entry of a cycle) and strength.

    :param recipe: what the session starts with.
    :param cycle: more style specs that "next style" steps through after ``recipe``.
    """

    def __init__(self, recipe: StyleRecipe, cycle: Sequence[str] = ()) -> None:
        self._entries: list[StyleRecipe] = [recipe] + [
            StyleRecipe.of(spec) for spec in cycle if (spec,) != recipe.styles]
        self._index = 0
        self.strength = recipe.strength

    @property
    def names(self) -> list[str]:
        """Display names of the styles in the cycle."""
        return [r.label for r in self._entries]

    @property
    def style_name(self) -> str:
        """Display name of the current style."""
        return self._entries[self._index].label

    @property
    def label(self) -> str:
        """``starry @ 0.80 (2/5)``."""
        return f"{self.style_name} @ {self.strength:.2f} ({self._index + 1}/{len(self._entries)})"

    @property
    def recipe(self) -> StyleRecipe:
        """The recipe to paint with now."""
        return dataclasses.replace(self._entries[self._index], strength=self.strength)

    async def apply(self, command: Command, stream: EngineStream) -> str:
        """Apply ``command`` to ``stream``'s style; return a message saying what is painted now.

        A style that cannot be used (a broken image in the cycle) leaves the current one.
        """
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
            await stream.set_style(self.recipe)
        except StreamerError as exc:
            self._index, self.strength = before
            return f"cannot switch: {exc}"
        return f"style {self.label}"

"""What a stream paints with, as the user asked for it: style names, how to mix them, strength.

:class:`StyleRecipe` is the one description of a look that the command line, the live controls
and the HTTP/data-channel API all build, and the one place its values are checked. Its error
messages name fields neutrally (``strength``, ``mix``); each front-end phrases them for its
own users.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["RECIPE_FIELDS", "StyleRecipe"]

#: the fields a recipe is changed with (``{"style": ..., "style2": ..., "mix": ..., "strength": ...}``)
RECIPE_FIELDS = ("style", "style2", "mix", "strength")
#: longest style name accepted from a client
MAX_NAME_LENGTH = 100


def _unit(name: str, value: object) -> float:
    """``value`` as a float in [0, 1] (:raises ConfigError: naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {value}")
    return float(value)


def _name(key: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        raise ConfigError(f"{key} must be a style name")
    return value


@dataclass(frozen=True)
class StyleRecipe:
    """No, one or two styles, how to mix them, and how strongly to apply the result.

    :param styles: style names (built-in names, gallery names, image or ``.npy`` paths,
        whatever the stream's lookup resolves); none: frames pass through unchanged.
    :param mix: with two styles, the weight of the second (0 = first only, 1 = second only).
    :param strength: 1 = full style; lower values blend towards the content's own embedding
        (Magenta's recipe), 0 = the content's own look. See
        :class:`~streamer.styles.mixer.StyleMixer` for when that embedding is computed.
    """

    styles: tuple[str, ...]
    mix: float = 0.5
    strength: float = 1.0

    def __post_init__(self) -> None:
        if len(self.styles) > 2:
            raise ConfigError(f"give one or two styles, not {len(self.styles)}")
        _unit("mix", self.mix)
        _unit("strength", self.strength)

    @classmethod
    def of(cls, styles: str | Sequence[str], mix: float | None = None, strength: float = 1.0) -> StyleRecipe:
        """Build from plain values (``mix`` only makes sense with two styles)."""
        names = (styles,) if isinstance(styles, str) else tuple(styles)
        if not names:
            raise ConfigError("give one or two styles")
        if mix is not None and len(names) != 2:
            raise ConfigError("mix needs exactly two styles")
        return cls(names, 0.5 if mix is None else mix, strength)

    def updated(self, fields: Mapping[str, Any]) -> StyleRecipe:
        """A copy with the :data:`RECIPE_FIELDS` present in ``fields`` changed.

        ``style`` is the main style (null: pass frames through), ``style2`` the one mixed in.
        Keys ``type`` and ``id`` (a data-channel message's envelope) are ignored.

        :raises ConfigError: an unknown field or a bad value.
        """
        unknown = set(fields) - set(RECIPE_FIELDS) - {"type", "id"}
        if unknown:
            raise ConfigError(f"unknown field(s): {', '.join(sorted(unknown))}")
        style = _name("style", fields.get("style", self.style))
        style2 = _name("style2", fields.get("style2", self.style2))
        styles = () if style is None else (style,) if style2 is None else (style, style2)
        return replace(self, styles=styles, mix=_unit("mix", fields.get("mix", self.mix)),
                       strength=_unit("strength", fields.get("strength", self.strength)))

    @property
    def style(self) -> str | None:
        """The main style's name (None: frames pass through)."""
        return self.styles[0] if self.styles else None

    @property
    def style2(self) -> str | None:
        """The second style's name, if one is mixed in."""
        return self.styles[1] if len(self.styles) == 2 else None

    @property
    def needs_content(self) -> bool:
        """True if the content's own embedding is needed (a style at strength below 1)."""
        return bool(self.styles) and self.strength < 1.0

    @property
    def label(self) -> str:
        """Short display name: ``starry``, ``starry+wave (0.30)``, ``none``."""
        names = [Path(s).stem if ("/" in s or "." in s) else s for s in self.styles]
        if len(names) == 2:
            return f"{names[0]}+{names[1]} ({self.mix:.2f})"
        return names[0] if names else "none"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the :data:`RECIPE_FIELDS`)."""
        return {"style": self.style, "style2": self.style2, "mix": self.mix, "strength": self.strength}

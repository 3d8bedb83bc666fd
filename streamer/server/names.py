"""Names clients put in URLs and bodies: rooms, streams, participants. Checked before any lookup.

Room and stream names are 1-64 ASCII letters, digits, ``-`` or ``_`` (they appear in URLs and
logs as they are); a room participant's stream is ``ROOM/ID``. Display names are free text of
at most 40 characters without control characters.
"""

from __future__ import annotations

import re
import unicodedata

from .http import ApiError

__all__ = ["MAX_NAME", "NAME_PATTERN", "check_display_name", "check_name", "valid_name"]

MAX_NAME = 64
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
_NAME = re.compile(NAME_PATTERN)
MAX_DISPLAY_NAME = 40


def valid_name(text: str) -> bool:
    """True for a well-formed room or stream name."""
    return _NAME.fullmatch(text) is not None


def check_name(what: str, text: str) -> str:
    """``text`` if it is a well-formed ``what`` (room, stream) name, else 400 with the rule."""
    if valid_name(text):
        return text
    shown = text if len(text) <= MAX_NAME else text[:MAX_NAME] + "..."
    if len(text) > MAX_NAME:
        raise ApiError(400, f"{what} name is {len(text)} characters long; at most {MAX_NAME} are allowed")
    raise ApiError(400, f"{what} name {shown!r} is not valid: use 1-{MAX_NAME} letters, digits, '-' or '_'")


def check_display_name(value: object) -> str | None:
    """A participant's display name (None if absent), else 400 saying why."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, "name must be a string")
    text = value.strip()
    if len(text) > MAX_DISPLAY_NAME:
        raise ApiError(400, f"name is {len(text)} characters long; at most {MAX_DISPLAY_NAME} are allowed")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ApiError(400, "name must not contain control characters")
    return text or None

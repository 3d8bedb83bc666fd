"""The stylized streams anyone (with the token) can watch by name.

Every :class:`~streamer.server.broadcast.Broadcast` is listed here under its name while it
runs: a WHIP stream under the name it was published to, a ``--source`` under its name, a room
participant as ``ROOM.ID``. WHEP viewers find them here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .broadcast import Broadcast, BroadcastKind
from .http import ApiError

__all__ = ["StreamDirectory"]


class StreamDirectory:
    """Broadcasts by name, and the limit on published ones (WHIP streams and sources; room
    participants are limited by their rooms).

    :param max_streams: published streams allowed at once (counting ones still negotiating).
    """

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self._streams: dict[str, Broadcast] = {}
        self._reserved: set[str] = set()

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[Broadcast]:
        return iter(list(self._streams.values()))

    @property
    def published(self) -> int:
        """WHIP streams and sources running or being set up."""
        return len(self._reserved) + sum(1 for b in self._streams.values() if b.kind is not BroadcastKind.ROOM)

    @contextlib.contextmanager
    def reserve(self, name: str, *, counted: bool = True) -> Iterator[None]:
        """Hold ``name`` while its stream is set up (:meth:`add` it inside the block).

        :param counted: counts against ``max_streams`` (room participants do not).
        :raises ApiError: 409 the name is taken, 503 the server is full.
        """
        if name in self._streams or name in self._reserved:
            raise ApiError(409, f"stream {name!r} is already being published; pick another name "
                                "or end the other one first")
        if counted and self.published >= self.max_streams:
            raise ApiError(503, f"the server is full ({self.max_streams} published streams); try again later")
        self._reserved.add(name)
        try:
            yield
        finally:
            self._reserved.discard(name)

    def add(self, broadcast: Broadcast) -> None:
        """List ``broadcast`` under its name (inside its :meth:`reserve` block)."""
        self._streams[broadcast.name] = broadcast

    def remove(self, broadcast: Broadcast) -> None:
        """Unlist ``broadcast`` (no-op if another stream holds the name now)."""
        if self._streams.get(broadcast.name) is broadcast:
            del self._streams[broadcast.name]

    def get(self, name: str) -> Broadcast:
        """The stream called ``name``.

        :raises ApiError: 404 with the names there are.
        """
        found = self._streams.get(name)
        if found is None or found.closed:
            known = ", ".join(sorted(self._streams)[:10]) or "none right now"
            raise ApiError(404, f"no stream named {name!r} (streams: {known})")
        return found

"""The data channel of a call: the JSON messages a session and a room participant both speak.

* ``{type: "ping", id, t}`` -> ``{type: "pong", id, t}``
* ``{type: "style", id, style?, style2?, mix?, strength?}`` -> ``{type: "style", id, ok: true,
  ...recipe}`` or ``{..., ok: false, error}``
* ``{type: "stats"}`` -> ``{type: "stats", ...snapshot}``
* ``{type: "bye"}``: the call ends
* unasked, last: ``{type: "closed", reason}``: the server ends the call

Style requests that arrive while one is being applied are merged (later fields win) and
applied together; every request gets its answer. The owner runs :meth:`ControlChannel.serve_styles`
as one of its supervised tasks and may send messages of its own with :meth:`ControlChannel.send`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiortc import RTCDataChannel

from ..errors import StreamerError

__all__ = ["CLIENT_DELETED", "CLIENT_ENDED", "CLIENT_SAID_GOODBYE", "MAX_MESSAGE_BYTES", "PARTICIPANT_LEFT",
           "ControlChannel"]

logger = logging.getLogger(__name__)

#: control messages larger than this are refused
MAX_MESSAGE_BYTES = 4096
#: reasons a client ended its own call for: the page that did is not told its own news
CLIENT_SAID_GOODBYE = "the client said goodbye"  # a "bye" message on the data channel
CLIENT_DELETED = "closed by the client"  # DELETE on the call's resource
PARTICIPANT_LEFT = "the participant left"  # a room participant's "bye" or DELETE
CLIENT_ENDED = frozenset({CLIENT_SAID_GOODBYE, CLIENT_DELETED, PARTICIPANT_LEFT})
#: at close, how long the goodbye message may take to leave before the connection closes
GOODBYE_FLUSH_SECONDS = 0.5

StyleApplier = Callable[[Mapping[str, Any]], Awaitable[Mapping[str, Any]]]


class ControlChannel:
    """Speaks the control protocol on a call's data channel.

    :param apply_style: applies a style request, returns the resulting recipe's fields;
        raises :class:`~streamer.errors.StreamerError` to refuse it.
    :param snapshot: the call's state and counters (sent as ``stats``).
    :param on_bye: the client said goodbye.
    """

    def __init__(self, apply_style: StyleApplier, snapshot: Callable[[], dict[str, Any]],
                 on_bye: Callable[[], None]) -> None:
        self._apply_style = apply_style
        self._snapshot = snapshot
        self._on_bye = on_bye
        self._channel: RTCDataChannel | None = None
        self._pending_style: dict[str, Any] | None = None
        self._pending_ids: list[Any] = []
        self._style_wanted = asyncio.Event()

    def attach(self, channel: RTCDataChannel) -> None:
        """Use ``channel`` (the client's first data channel; later ones are ignored)."""
        if self._channel is not None:
            return
        self._channel = channel
        channel.on("message", self._on_message)

    @property
    def is_open(self) -> bool:
        """True while messages can be sent."""
        return self._channel is not None and self._channel.readyState == "open"

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message`` if the channel is open (dropped otherwise)."""
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    async def serve_styles(self) -> None:
        """Apply style requests as they come, merged while one is applied (runs until cancelled)."""
        while True:
            await self._style_wanted.wait()
            self._style_wanted.clear()
            request, self._pending_style = self._pending_style, None
            ids, self._pending_ids = self._pending_ids, []
            if request is None:
                continue
            try:
                answer = {"ok": True, **(await self._apply_style(request))}
            except StreamerError as exc:
                answer = {"ok": False, "error": str(exc)}
            for request_id in ids:
                self.send({"type": "style", "id": request_id, **answer})

    async def goodbye(self, reason: str) -> None:
        """Tell the client why the call ends (unless it ended the call itself), give the message
        a moment to leave, and stop listening."""
        channel, self._channel = self._channel, None
        if channel is None or channel.readyState != "open" or reason in CLIENT_ENDED:
            return
        try:
            channel.send(json.dumps({"type": "closed", "reason": reason}))
            deadline = time.monotonic() + GOODBYE_FLUSH_SECONDS
            while channel.bufferedAmount > 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        except Exception:  # the channel went away meanwhile: nobody is left to tell
            logger.debug("cannot send the goodbye", exc_info=True)

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes) or len(message) > MAX_MESSAGE_BYTES:
            self.send({"type": "error", "error": f"messages must be JSON text under {MAX_MESSAGE_BYTES} bytes"})
            return
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
            data = None
        if not isinstance(data, dict):
            self.send({"type": "error", "error": "messages must be JSON objects"})
            return
        kind = data.get("type")
        if kind == "ping":
            self.send({"type": "pong", "id": data.get("id"), "t": data.get("t")})
        elif kind == "style":
            fields = {k: v for k, v in data.items() if k not in ("type", "id")}
            self._pending_style = {**(self._pending_style or {}), **fields}
            self._pending_ids.append(data.get("id"))
            self._style_wanted.set()
        elif kind == "stats":
            self.send({"type": "stats", **self._snapshot()})
        elif kind == "bye":
            self._on_bye()
        else:
            self.send({"type": "error", "error": f"unknown message type {kind!r}"})

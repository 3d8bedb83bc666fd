"""Published streams over HTTP: list them, and change a WHIP stream's or a source's style live.

| method and path | body | answer |
|---|---|---|
| ``GET /api/streams`` | | ``200 {streams: [snapshot...]}`` |
| ``GET /api/streams/{name}`` | | ``200`` snapshot; ``404`` unknown |
| ``POST /api/streams/{name}/style`` | any of ``{style, style2, mix, strength}`` | ``200`` snapshot; ``400`` bad field;
  ``403`` a call participant's stream (they choose their own style) |
"""

from __future__ import annotations

from aiohttp import web

from .broadcast import BroadcastKind
from .context import context_of
from .control import restyle
from .http import ApiError, json_response

__all__ = ["get_stream", "list_streams", "set_stream_style"]


async def list_streams(request: web.Request) -> web.Response:
    """``GET /api/streams``: every stream that can be watched, with its style and counters."""
    return json_response({"streams": [b.snapshot() for b in context_of(request).streams]})


async def get_stream(request: web.Request) -> web.Response:
    """``GET /api/streams/{name}``: one stream's snapshot."""
    return json_response(context_of(request).streams.get(request.match_info["name"]).snapshot())


async def set_stream_style(request: web.Request) -> web.Response:
    """``POST /api/streams/{name}/style``: change a published stream's style live."""
    broadcast = context_of(request).streams.get(request.match_info["name"])
    if broadcast.kind is BroadcastKind.ROOM:
        raise ApiError(403, "a call participant chooses their own style (over their data channel)")
    return await restyle(request, broadcast)

"""Style control over HTTP: the gallery, previews, and changing a running session's style.

The same changes can be made over the session's data channel (``{"type": "style", ...}``);
both apply to the next frame, without renegotiation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from .. import __version__
from ..errors import StreamerError
from ..styles import StyleRecipe
from .context import context_of
from .http import ApiError, json_response, read_body, read_json
from .security import check_image_pixels

__all__ = ["Styled", "get_info", "get_preview", "list_styles", "restyle", "set_style", "upload_style"]


async def get_info(request: web.Request) -> web.Response:
    """``GET /api/info``: model, backend, styles, limits, ICE servers for the browser."""
    ctx = context_of(request)
    settings = ctx.settings
    return json_response({
        "version": __version__,
        "model": ctx.engine.model_set.name,
        "backend": ctx.engine.report.summary,
        "size": str(settings.size),
        "audio": settings.audio.value,
        "styles": ctx.gallery.listing(),
        "default_style": ctx.gallery.default,
        "sessions": len(ctx.registry),
        "max_sessions": settings.max_sessions,
        "max_upload_bytes": settings.max_upload_bytes,
        "max_upload_pixels": settings.max_upload_pixels,
        "ice_servers": settings.ice_servers_json,
        "room_size": settings.room_size,
        "rooms": list(settings.rooms),
        "max_rooms": settings.max_rooms,
        "max_streams": settings.max_streams,
        "max_viewers": settings.max_viewers,
    })


async def list_styles(request: web.Request) -> web.Response:
    """``GET /api/styles``: names and titles of the gallery styles."""
    return json_response({"styles": context_of(request).gallery.listing()})


async def get_preview(request: web.Request) -> web.Response:
    """``GET /api/styles/{name}/preview.jpg``: a small picture painted in that style."""
    ctx = context_of(request)
    try:
        jpeg = await ctx.previews.preview(request.match_info["name"])
    except StreamerError as exc:
        raise ApiError(503, f"cannot make a preview now: {exc}") from None
    if jpeg is None:
        raise ApiError(404, "no such style")
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})


class Styled(Protocol):
    """Anything whose style a client changes: a session, a stream, a call participant."""

    async def set_style(self, fields: Mapping[str, Any]) -> StyleRecipe: ...  # noqa: D102

    def snapshot(self) -> dict[str, Any]: ...  # noqa: D102


async def restyle(request: web.Request, target: Styled) -> web.Response:
    """Apply the request's style fields (JSON) to ``target``; answer its snapshot (400 if refused)."""
    fields = await read_json(request)
    try:
        await target.set_style(fields)
    except StreamerError as exc:
        raise ApiError(400, str(exc)) from None
    return json_response(target.snapshot())


async def set_style(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/style``: change style, style2, mix and/or strength."""
    return await restyle(request, context_of(request).session(request))


async def upload_style(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/styles``: the body is a style image; it becomes the main style
    unless ``?apply=0``. Answers ``{"name": "upload-...", ...}``."""
    ctx = context_of(request)
    session = ctx.session(request)
    if not (request.content_type.startswith("image/") or request.content_type == "application/octet-stream"):
        raise ApiError(415, "send the style image's bytes with Content-Type image/* or application/octet-stream")
    data = await read_body(request, ctx.settings.max_upload_bytes, "style image")
    if not data:
        raise ApiError(400, "the body must be the style image's bytes")
    check_image_pixels(data, ctx.settings.max_upload_pixels)
    apply = request.query.get("apply", "1") not in ("0", "false", "no")
    try:
        async with ctx.upload_slots:
            name = await session.upload_style(data, apply)
    except StreamerError as exc:
        raise ApiError(400, str(exc)) from None
    return json_response({"name": name, **session.snapshot()}, 201)

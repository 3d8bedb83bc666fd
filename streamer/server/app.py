"""The aiohttp application: routes, the page's assets, and closing everything on shutdown.

.. code-block:: python

    engine = Engine.create("fast")
    await engine.start()
    app = create_app(engine, ServerSettings(port=8080), owns_engine=True)
    web.run_app(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import resources

from aiohttp import web

from ..engine import Engine
from ..sources.base import Source
from . import control, room_api, signaling, stream_control, whep, whip
from .context import CONTEXT, ServerContext
from .feeds import add_feeds
from .http import BODY_TIMEOUT, error_middleware
from .loop_priority import keep_loop_ahead
from .names import check_name
from .previews import PreviewMaker
from .rooms import RoomDirectory
from .security import SESSION_ID_PATTERN, headers_middleware, local_host_middleware, token_middleware
from .sessions import SessionRegistry
from .settings import ServerSettings, is_loopback
from .streams import StreamDirectory
from .styling import Gallery
from .wish import refuse_patch

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

#: the page's files: served from memory by exact name, so no request reaches the file system
ASSETS = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
    "room.html": "text/html",
    "room.js": "text/javascript",
    "room.css": "text/css",
}


def _load_assets() -> dict[str, tuple[bytes, str]]:
    folder = resources.files(__package__).joinpath("static")
    return {name: (folder.joinpath(name).read_bytes(), kind) for name, kind in ASSETS.items()}


def create_app(engine: Engine, settings: ServerSettings, gallery: Gallery | None = None,
               owns_engine: bool = False, sources: Mapping[str, Source] | None = None) -> web.Application:
    """Build the server around a started ``engine``.

    :param gallery: the styles to offer (default: the engine's built-in styles).
    :param owns_engine: stop the engine when the app is cleaned up.
    :param sources: live sources to offer as named streams (opened when the app starts).
    """
    gallery = gallery if gallery is not None else Gallery(engine.styles.builtins)
    context = ServerContext(engine, settings, gallery, SessionRegistry(settings.max_sessions),
                            PreviewMaker(engine, gallery), SessionRegistry(settings.max_calls, "call"),
                            StreamDirectory(settings.max_streams), RoomDirectory(settings))
    app = web.Application(
        middlewares=[headers_middleware, error_middleware, local_host_middleware(is_loopback(settings.host)),
                     token_middleware(settings.token)],
        client_max_size=settings.max_upload_bytes + 64 * 1024,
    )
    app[CONTEXT] = context
    app[BODY_TIMEOUT] = settings.body_timeout
    assets = _load_assets()

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if "room" in request.match_info:  # /room/NAME: the call page, for any well-formed name
            check_name("room", request.match_info["room"])
            name = "room.html"
        if name not in assets:
            raise web.HTTPNotFound()
        body, kind = assets[name]
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "no-cache"})

    sid = "{session_id:" + SESSION_ID_PATTERN + "}"
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", page)
    app.router.add_get("/favicon.ico", _no_icon)
    app.router.add_get("/api/info", control.get_info)
    app.router.add_get("/api/styles", control.list_styles)
    app.router.add_get("/api/styles/{name}/preview.jpg", control.get_preview)
    app.router.add_post("/api/sessions", signaling.create_session)
    app.router.add_get(f"/api/sessions/{sid}", signaling.get_session)
    app.router.add_delete(f"/api/sessions/{sid}", signaling.close_session)
    app.router.add_post(f"/api/sessions/{sid}/close", signaling.close_session)
    app.router.add_post(f"/api/sessions/{sid}/style", control.set_style)
    app.router.add_post(f"/api/sessions/{sid}/styles", control.upload_style)
    call = "{call_id:" + SESSION_ID_PATTERN + "}"
    app.router.add_post("/whip/{name}", whip.publish)
    app.router.add_delete(f"/whip/{{name}}/{call}", whip.end_publishing)
    app.router.add_patch(f"/whip/{{name}}/{call}", refuse_patch)
    app.router.add_post("/whep/{name}", whep.watch)
    app.router.add_delete(f"/whep/{{name}}/{call}", whep.stop_watching)
    app.router.add_patch(f"/whep/{{name}}/{call}", refuse_patch)
    app.router.add_get("/room/{room}", page)
    app.router.add_get("/api/rooms", room_api.list_rooms)
    app.router.add_get("/api/rooms/{room}", room_api.get_room)
    app.router.add_post("/api/rooms/{room}/participants", room_api.join)
    app.router.add_get(f"/api/rooms/{{room}}/participants/{call}", room_api.participant_snapshot)
    app.router.add_post(f"/api/rooms/{{room}}/participants/{call}/style", room_api.set_participant_style)
    app.router.add_delete(f"/api/rooms/{{room}}/participants/{call}", room_api.leave)
    app.router.add_get("/api/streams", stream_control.list_streams)
    app.router.add_get("/api/streams/{name}", stream_control.get_stream)
    app.router.add_post("/api/streams/{name}/style", stream_control.set_stream_style)
    add_feeds(app, sources or {})
    app.cleanup_ctx.append(keep_loop_ahead(settings.work_niceness))
    app.on_shutdown.append(_close_sessions)
    app.on_cleanup.append(_close_sessions)
    if owns_engine:
        app.on_cleanup.append(_stop_engine)
    return app


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _close_sessions(app: web.Application) -> None:
    context = app[CONTEXT]
    if len(context.registry):
        logger.info("closing %d session(s)", len(context.registry))
    await context.registry.close_all("the server is shutting down")
    await context.calls.close_all("the server is shutting down")
    context.previews.close()


async def _stop_engine(app: web.Application) -> None:
    await app[CONTEXT].engine.stop(drain=False)

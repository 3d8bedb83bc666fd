"""The aiohttp application: routes, the page's assets, and closing everything on shutdown.

.. code-block:: python

    engine = Engine.create("fast")
    await engine.start()
    app = create_app(engine, ServerSettings(port=8080), owns_engine=True)
    web.run_app(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import logging
from importlib import resources

from aiohttp import web

from ..engine import Engine
from . import control, signaling
from .context import CONTEXT, ServerContext
from .http import BODY_TIMEOUT, error_middleware
from .previews import PreviewMaker
from .security import SESSION_ID_PATTERN, headers_middleware, local_host_middleware, token_middleware
from .sessions import SessionRegistry
from .settings import ServerSettings, is_loopback
from .styling import Gallery

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

#: the page's files: served from memory by exact name, so no request reaches the file system
ASSETS = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}


def _load_assets() -> dict[str, tuple[bytes, str]]:
    folder = resources.files(__package__).joinpath("static")
    return {name: (folder.joinpath(name).read_bytes(), kind) for name, kind in ASSETS.items()}


def create_app(engine: Engine, settings: ServerSettings, gallery: Gallery | None = None,
               owns_engine: bool = False) -> web.Application:
    """Build the server around a started ``engine``.

    :param gallery: the styles to offer (default: the engine's built-in styles).
    :param owns_engine: stop the engine when the app is cleaned up.
    """
    gallery = gallery if gallery is not None else Gallery(engine.styles.builtins)
    context = ServerContext(engine, settings, gallery, SessionRegistry(settings.max_sessions),
                            PreviewMaker(engine, gallery))
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
    context.previews.close()


async def _stop_engine(app: web.Application) -> None:
    await app[CONTEXT].engine.stop(drain=False)

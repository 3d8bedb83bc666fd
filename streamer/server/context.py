"""What every request handler needs, stored once on the application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from ..engine import Engine
from .http import ApiError
from .previews import PreviewMaker
from .security import valid_session_id
from .sessions import Session, SessionRegistry, UnknownSessionError
from .settings import ServerSettings
from .styling import Gallery

__all__ = ["CONTEXT", "ServerContext", "context_of"]


@dataclass
class ServerContext:
    """The server's shared objects."""

    engine: Engine
    settings: ServerSettings
    gallery: Gallery
    registry: SessionRegistry
    previews: PreviewMaker
    #: uploaded style images being decoded and embedded at once (each holds ~100 MB while it
    #: decodes, and a thread of the loop's default executor, which aiortc's encoders share)
    upload_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    def session(self, request: web.Request) -> Session:
        """The session named in the URL (404 if there is none)."""
        session_id = request.match_info.get("session_id", "")
        if not valid_session_id(session_id):
            raise ApiError(404, "no such session")
        try:
            return self.registry.get(session_id)
        except UnknownSessionError as exc:
            raise ApiError(404, exc.args[0]) from None


CONTEXT: web.AppKey[ServerContext] = web.AppKey("streamer_server", ServerContext)


def context_of(request: web.Request) -> ServerContext:
    """The :class:`ServerContext` of the app serving ``request``."""
    return request.app[CONTEXT]

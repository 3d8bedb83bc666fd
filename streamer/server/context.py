"""What every request handler needs, stored once on the application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web

from ..engine import Engine
from .http import ApiError
from .peers import PeerCall
from .previews import PreviewMaker
from .rooms import RoomDirectory
from .security import valid_session_id
from .sessions import Session, SessionRegistry, UnknownSessionError
from .settings import ServerSettings
from .streams import StreamDirectory
from .styling import Gallery

__all__ = ["CONTEXT", "ServerContext", "context_of"]

CallT = TypeVar("CallT", bound=PeerCall)


@dataclass
class ServerContext:
    """The server's shared objects."""

    engine: Engine
    settings: ServerSettings
    gallery: Gallery
    registry: SessionRegistry[Session]
    previews: PreviewMaker
    calls: SessionRegistry[PeerCall]  #: WHIP publishers, WHEP viewers, room participants
    streams: StreamDirectory
    rooms: RoomDirectory
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


    def call_at(self, request: web.Request, kind: type[CallT]) -> CallT:
        """The ``kind`` of call named by ``{call_id}`` in the URL (404 if there is none)."""
        call_id = request.match_info.get("call_id", "")
        if valid_session_id(call_id):
            try:
                call = self.calls.get(call_id)
            except UnknownSessionError:
                pass
            else:
                if isinstance(call, kind):
                    return call
        raise ApiError(404, f"no such {kind.kind} session (it may have ended)")

CONTEXT: web.AppKey[ServerContext] = web.AppKey("streamer_server", ServerContext)


def context_of(request: web.Request) -> ServerContext:
    """The :class:`ServerContext` of the app serving ``request``."""
    return request.app[CONTEXT]

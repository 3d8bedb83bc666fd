"""Creating and ending sessions over HTTP: SDP offer in, SDP answer out.

``POST /api/sessions`` with ``{"type": "offer", "sdp": "...", "style": ...}`` answers
``201 {"session_id": ..., "type": "answer", "sdp": "..."}``; ICE candidates are gathered before
answering (no trickle), so one round trip sets up the call.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiortc import RTCSessionDescription

from ..errors import EngineClosedError, StreamerError
from .context import context_of
from .http import ApiError, json_response, read_json
from .negotiation import Offer, OfferError, accept_offer, answer_offer, check_offer, new_peer_connection
from .sessions import CLIENT_DELETED, Session, SessionLimitError

__all__ = ["close_session", "create_session", "get_session"]

logger = logging.getLogger(__name__)

STYLE_FIELDS = ("style", "style2", "mix", "strength")


def _offer_from(body: dict[str, Any]) -> Offer:
    kind = body.get("type", "offer")
    if kind != "offer":
        raise ApiError(400, f"type must be 'offer', not {kind!r}")
    try:
        return check_offer(body.get("sdp"))
    except OfferError as exc:
        raise ApiError(exc.status, str(exc)) from None


async def create_session(request: web.Request) -> web.Response:
    """``POST /api/sessions``: negotiate a call and start stylizing its video."""
    ctx = context_of(request)
    body = await read_json(request)
    offer = _offer_from(body)
    initial = {key: body[key] for key in STYLE_FIELDS if key in body}
    try:
        with ctx.registry.reserve() as session_id:
            pc = new_peer_connection(ctx.settings.ice_servers)
            ctx.registry.watch(pc)
            try:
                session = Session(session_id, pc, ctx.engine, ctx.settings, ctx.gallery,
                                  ctx.registry.request_close)
            except EngineClosedError as exc:  # the engine failed or is stopping
                await pc.close()
                raise ApiError(503, f"cannot start a session: {exc}") from None
            try:
                answer = await _negotiate(session, offer, initial)
                ctx.registry.add(session)
            except BaseException:
                await session.close("negotiation failed")
                raise
            session.start()
    except SessionLimitError as exc:
        raise ApiError(503, str(exc)) from None
    except OfferError as exc:
        raise ApiError(exc.status, str(exc)) from None
    logger.info("session %s started (%d open)", session_id[:8], len(ctx.registry))
    return json_response({"session_id": session_id, "type": answer.type, "sdp": answer.sdp}, 201)


async def _negotiate(session: Session, offer: Offer, initial: dict[str, Any]) -> RTCSessionDescription:
    hosts = session.settings.host_candidate_addresses
    await accept_offer(session.pc, offer, hosts)
    if not session.has_video:
        raise OfferError("the offer sends no video track: add the camera track before creating the offer")
    try:
        await session.set_style(initial)
    except StreamerError as exc:
        raise ApiError(400, str(exc)) from None
    return await answer_offer(session.pc, hosts)


async def get_session(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}``: state, style and counters."""
    return json_response(context_of(request).session(request).snapshot())


async def close_session(request: web.Request) -> web.Response:
    """``DELETE /api/sessions/{id}`` (or ``POST .../close``): end the call and free it."""
    ctx = context_of(request)
    session = ctx.session(request)
    await ctx.registry.close(session, CLIENT_DELETED)
    return json_response({"session_id": session.id, "state": session.state.value})

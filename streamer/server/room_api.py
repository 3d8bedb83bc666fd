"""Calls over HTTP: the room page, joining (SDP offer in, answer out), style, leaving.

* ``GET /room/{room}``: the call's page.
* ``GET /api/rooms``: ``200 {rooms: [room...], size, max_rooms, open}``.
* ``GET /api/rooms/{room}``: ``200 {name, size, declared, participants: [{id, name, style, ...}]}``.
* ``POST /api/rooms/{room}/participants`` with ``{type: "offer", sdp, name?, self_view?, replaces?,
  style?, style2?, mix?, strength?}``: ``201 {participant_id, id, room, stream, type: "answer", sdp}``.
* ``GET /api/rooms/{room}/participants/{id}``: ``200`` the participant's snapshot.
* ``POST /api/rooms/{room}/participants/{id}/style`` with any of ``{style, style2, mix, strength}``:
  ``200`` snapshot.
* ``DELETE /api/rooms/{room}/participants/{id}``: ``200 {id, state: "closed"}``.

``participant_id`` is the participant's secret (API calls, and ``replaces`` to rejoin after a
lost connection, keeping their place and public ``id``). Errors: ``400`` bad name, offer or
style; ``404`` no such room (with ``--room``, only those exist); ``409`` the room is full;
``503`` too many calls on the server.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from ..styles.recipe import RECIPE_FIELDS
from .calls import check_style, open_call
from .channel import PARTICIPANT_LEFT
from .context import context_of
from .control import restyle
from .http import MAX_JSON_BYTES, ApiError, json_response, read_json
from .names import check_display_name, check_name
from .negotiation import MAX_SDP_CHARS, OfferError, accept_offer, answer_offer, check_offer
from .rooms import Participant, Room

__all__ = ["get_room", "join", "leave", "list_rooms", "participant_snapshot", "set_participant_style"]


def offer_limit(room_size: int) -> int:
    """Longest offer a participant may send: a browser's offer has a section per slot (video and
    audio for everyone else), a few kilobytes each."""
    return MAX_SDP_CHARS + room_size * 2 * 8 * 1024


def _room(request: web.Request) -> Room:
    return context_of(request).rooms.get(check_name("room", request.match_info["room"]))


def _participant(request: web.Request) -> Participant:
    participant = context_of(request).call_at(request, Participant)
    if participant.room.name != request.match_info["room"]:
        raise ApiError(404, "no such participant in this room")
    return participant


async def list_rooms(request: web.Request) -> web.Response:
    """``GET /api/rooms``: the calls going on (and the operator's rooms, even empty)."""
    rooms = context_of(request).rooms
    return json_response({"rooms": [r.snapshot() for r in rooms], "size": rooms.size,
                          "max_rooms": rooms.max_rooms, "open": not rooms.fixed})


async def get_room(request: web.Request) -> web.Response:
    """``GET /api/rooms/{room}``: who is in the call."""
    return json_response(_room(request).snapshot())


async def join(request: web.Request) -> web.Response:
    """``POST /api/rooms/{room}/participants``: join with an SDP offer (camera, slots, channel)."""
    ctx = context_of(request)
    name = check_name("room", request.match_info["room"])
    max_chars = offer_limit(ctx.settings.room_size)
    body = await read_json(request, max_chars + MAX_JSON_BYTES)
    if body.get("type", "offer") != "offer":
        raise ApiError(400, f"type must be 'offer', not {body.get('type')!r}")
    try:
        offer = check_offer(body.get("sdp"), max_chars=max_chars)
    except OfferError as exc:
        raise ApiError(exc.status, str(exc)) from None
    display = check_display_name(body.get("name"))
    initial: dict[str, Any] = {key: body[key] for key in RECIPE_FIELDS if key in body}
    room = ctx.rooms.open(name)
    replacing = room.find(body["replaces"]) if body.get("replaces") else None
    hosts = ctx.settings.host_candidate_addresses

    def create(call_id: str, pc: RTCPeerConnection) -> Participant:
        return Participant(call_id, pc, ctx, room, name=display or (replacing.name if replacing else None),
                           tag=replacing.tag if replacing else None, self_view=bool(body.get("self_view", False)),
                           request_close=ctx.calls.request_close)

    async def negotiate(participant: Participant) -> RTCSessionDescription:
        await accept_offer(participant.pc, offer, hosts)
        if not participant.broadcast.has_video:
            raise OfferError("the offer sends no video track: add the camera track before creating the offer")
        participant.open_slots(offer)
        await check_style(participant.broadcast.set_style(initial))
        answer = await answer_offer(participant.pc, hosts)
        participant.use_codecs(answer)
        if replacing is not None:
            await ctx.calls.close(replacing, "replaced by a new connection")
        ctx.streams.add(participant.broadcast)
        room.join(participant)
        return answer

    with room.seat(replacing):
        participant, answer = await open_call(ctx, create, negotiate)
    return json_response({"participant_id": participant.id, "id": participant.tag, "room": room.name,
                          "stream": participant.broadcast.name, "type": answer.type, "sdp": answer.sdp}, 201)


async def participant_snapshot(request: web.Request) -> web.Response:
    """``GET /api/rooms/{room}/participants/{id}``: the participant's stream and slots."""
    return json_response(_participant(request).snapshot())


async def set_participant_style(request: web.Request) -> web.Response:
    """``POST /api/rooms/{room}/participants/{id}/style``: change the participant's style."""
    return await restyle(request, _participant(request))


async def leave(request: web.Request) -> web.Response:
    """``DELETE /api/rooms/{room}/participants/{id}``: leave the call."""
    ctx = context_of(request)
    participant = _participant(request)
    await ctx.calls.close(participant, PARTICIPANT_LEFT)
    return json_response({"id": participant.tag, "state": "closed"})

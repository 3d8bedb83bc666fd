"""What WHIP (RFC 9725) and WHEP share over HTTP: an SDP offer in, ``201 Created`` with the
answer and the session's URL out, and the answers to requests this server does not support.

* The offer is ``Content-Type: application/sdp`` (415 otherwise) and complete: this server
  does no trickle ICE and no ICE restarts, so ``PATCH`` on a session gets ``405 Method Not
  Allowed`` with ``Allow: DELETE`` (RFC 9725 names 422 only for a session that supports one of
  the two; the WHIP and WHEP drafts before it say 405 when neither is) and the ``201`` carries
  no ``Accept-Patch``.
* The ``201`` lists the configured STUN/TURN servers in ``Link: <URL>; rel="ice-server"``
  headers (RFC 9725, 4.6), so a client can use the same ones.
* A bearer token, when the server has one, guards these routes like the JSON API.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from aiortc import RTCSessionDescription

from .http import ApiError, read_body
from .negotiation import MAX_SDP_CHARS, Offer, OfferError, check_offer
from .settings import ServerSettings

__all__ = ["SDP_TYPE", "created", "refuse_patch", "read_offer", "style_from_query"]

SDP_TYPE = "application/sdp"


async def read_offer(request: web.Request, *, video: str) -> Offer:
    """The request's SDP offer, checked (see :func:`~streamer.server.negotiation.check_offer`).

    :raises ApiError: 415 not ``application/sdp``, 413 too long, 400 not a usable offer.
    """
    if request.content_type != SDP_TYPE:
        raise ApiError(415, f"send the SDP offer with Content-Type: {SDP_TYPE} (got {request.content_type!r})")
    body = await read_body(request, MAX_SDP_CHARS, "SDP offer")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the SDP offer is not UTF-8 text") from None
    try:
        return check_offer(text, video=video, require_candidates=False)
    except OfferError as exc:
        raise ApiError(exc.status, str(exc)) from None


def _ice_server_links(settings: ServerSettings) -> list[str]:
    links = []
    for server in settings.ice_servers:
        urls = server.urls if isinstance(server.urls, list) else [server.urls]
        for url in urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username is not None:
                link += f'; username="{server.username}"; credential="{server.credential}"; credential-type="password"'
            links.append(link)
    return links


def created(answer: RTCSessionDescription, location: str, settings: ServerSettings) -> web.Response:
    """``201 Created``: the SDP answer, the session's URL, and the ICE servers."""
    response = web.Response(status=201, text=answer.sdp, content_type=SDP_TYPE,
                            headers={"Location": location, "Cache-Control": "no-store"})
    for link in _ice_server_links(settings):
        response.headers.add("Link", link)
    return response


async def refuse_patch(request: web.Request) -> web.Response:
    """``PATCH`` on a WHIP/WHEP session: trickle ICE and ICE restarts are not supported (405)."""
    return web.json_response(
        {"error": "this server supports neither trickle ICE nor ICE restarts: send a complete offer "
                  "(with its ICE candidates) and start a new session to reconnect"},
        status=405, headers={"Allow": "DELETE", "Cache-Control": "no-store"})


def style_from_query(query: Mapping[str, str]) -> dict[str, object]:
    """Style fields given in a URL query (``?style=starry&strength=0.8``), typed.

    :raises ApiError: 400 for a number that is not one, or an unknown parameter.
    """
    fields: dict[str, object] = {}
    for key, value in query.items():
        if key in ("style", "style2"):
            fields[key] = value or None
        elif key in ("mix", "strength"):
            try:
                fields[key] = float(value)
            except ValueError:
                raise ApiError(400, f"{key} must be a number between 0 and 1, got {value!r}") from None
        else:
            raise ApiError(400, f"unknown parameter {key!r}: use style, style2, mix or strength")
    return fields

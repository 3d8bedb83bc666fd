"""Setting up a call on a fresh peer connection, the same way for WHIP, WHEP and rooms.

.. code-block:: python

    async def negotiate(publisher: WhipPublisher) -> RTCSessionDescription:
        await accept_offer(publisher.pc, offer, hosts)
        ...
        return await answer_offer(publisher.pc, hosts)

    publisher, answer = await open_call(ctx, lambda call_id, pc: WhipPublisher(...), negotiate)

The call takes a slot of the server's call limit while it is negotiated, is registered once the
answer is ready, and is closed (everything it holds freed) if anything on the way fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from ..errors import EngineClosedError, StreamerError
from .context import ServerContext, context_of
from .http import ApiError, json_response
from .negotiation import OfferError, new_peer_connection
from .peers import PeerCall
from .sessions import SessionLimitError

__all__ = ["check_style", "end_stream_call", "open_call"]

CallT = TypeVar("CallT", bound=PeerCall)


Negotiator = Callable[[CallT], Awaitable[RTCSessionDescription]]


async def open_call(ctx: ServerContext, create: Callable[[str, RTCPeerConnection], CallT],
                    negotiate: Negotiator[CallT]) -> tuple[CallT, RTCSessionDescription]:
    """Create a call with ``create(call_id, pc)``, ``negotiate`` it (returns the answer),
    register and start it.

    :raises ApiError: 503 the server is full or the engine cannot take a stream; the offer's
        status (400/413) when it cannot be used; whatever ``negotiate`` raises.
    """
    try:
        with ctx.calls.reserve() as call_id:
            pc = new_peer_connection(ctx.settings.ice_servers)
            ctx.calls.watch(pc)
            try:
                call = create(call_id, pc)
            except EngineClosedError as exc:  # the engine failed or is stopping
                await pc.close()
                raise ApiError(503, f"cannot start now: {exc}") from None
            try:
                answer = await negotiate(call)
                ctx.calls.add(call)
            except BaseException:
                await call.close("negotiation failed")
                raise
            call.start()
            return call, answer
    except SessionLimitError as exc:
        raise ApiError(503, str(exc)) from None
    except OfferError as exc:
        raise ApiError(exc.status, str(exc)) from None


async def check_style(apply: Awaitable[object]) -> None:
    """Await a style change, answering 400 with the reason when it is refused."""
    try:
        await apply
    except StreamerError as exc:
        raise ApiError(400, str(exc)) from None


async def end_stream_call(request: web.Request, call: PeerCall, stream: str, reason: str) -> web.Response:
    """``DELETE`` on a WHIP/WHEP session's URL: close ``call`` (which plays or publishes
    ``stream``) for ``reason``; 404 if the URL names another stream."""
    if stream != request.match_info["name"]:
        raise ApiError(404, f"no such {call.kind.upper()} session")
    await context_of(request).calls.close(call, reason)
    return json_response({"stream": stream, "state": "closed"})

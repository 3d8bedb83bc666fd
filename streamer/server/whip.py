"""WHIP ingest (RFC 9725): OBS, FFmpeg, GStreamer or a browser publishes a stream to be stylized.

.. code-block:: text

    POST   /whip/NAME[?style=S&style2=S&mix=M&strength=X]   Content-Type: application/sdp (offer)
           -> 201 Created, the SDP answer, Location: /whip/NAME/ID
    DELETE /whip/NAME/ID    -> 200: the stream ends
    PATCH  /whip/NAME/ID    -> 405: no trickle ICE, no ICE restarts (send complete offers)

The stream is then watchable as ``/whep/NAME``; its style changes live with
``POST /api/streams/NAME/style``. H.264 and VP8 are accepted (whatever aiortc decodes), audio is
passed through to viewers.
"""

from __future__ import annotations

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from .broadcast import Broadcast, BroadcastKind
from .calls import check_style, end_stream_call, open_call
from .context import ServerContext, context_of
from .media import drain
from .names import check_name
from .negotiation import OfferError, accept_offer, answer_offer
from .peers import CloseRequest, PeerCall
from .wish import created, read_offer, style_from_query

__all__ = ["WhipPublisher", "end_publishing", "publish"]


class WhipPublisher(PeerCall):
    """A WHIP client's session: its video is stylized as the broadcast ``name``, its audio
    passed through.

    :param call_id: the session's id (its URL is ``/whip/NAME/ID``).
    :param pc: the peer connection (owned).
    :param context: the server's shared objects.
    :param name: the stream's name.
    :param request_close: asks the registry to close this session.
    """

    kind = "whip"
    receives_media = True

    def __init__(self, call_id: str, pc: RTCPeerConnection, context: ServerContext, name: str,
                 request_close: CloseRequest) -> None:
        super().__init__(call_id, pc, context.settings, request_close)
        self._streams = context.streams
        self.broadcast = Broadcast(name, BroadcastKind.WHIP, context.engine, context.settings,
                                   context.gallery, self.end)
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if not self.closing and not self.broadcast.take(track):
            self.spawn(drain(track), f"drain-{track.kind}")

    def last_media_at(self) -> float | None:
        return self.broadcast.last_frame_at

    async def release(self, reason: str) -> None:
        self._streams.remove(self.broadcast)
        await self.broadcast.close()


async def publish(request: web.Request) -> web.Response:
    """``POST /whip/{name}``: an SDP offer that sends video; answers 201 with the SDP answer."""
    ctx = context_of(request)
    name = check_name("stream", request.match_info["name"])
    initial = style_from_query(request.query)
    offer = await read_offer(request, video="send")
    hosts = ctx.settings.host_candidate_addresses

    async def negotiate(publisher: WhipPublisher) -> RTCSessionDescription:
        await accept_offer(publisher.pc, offer, hosts)
        if not publisher.broadcast.has_video:
            raise OfferError("the offer sends no video track")
        await check_style(publisher.broadcast.set_style(initial))
        answer = await answer_offer(publisher.pc, hosts)
        ctx.streams.add(publisher.broadcast)
        return answer

    with ctx.streams.reserve(name):
        publisher, answer = await open_call(
            ctx, lambda call_id, pc: WhipPublisher(call_id, pc, ctx, name, ctx.calls.request_close), negotiate)
    return created(answer, f"/whip/{name}/{publisher.id}", ctx.settings)


async def end_publishing(request: web.Request) -> web.Response:
    """``DELETE /whip/{name}/{id}``: the publisher ends its stream."""
    publisher = context_of(request).call_at(request, WhipPublisher)
    return await end_stream_call(request, publisher, publisher.broadcast.name, "the publisher ended the stream")

"""WHEP playback: watch any stylized stream by name, from a browser or any WHEP player.

.. code-block:: text

    POST   /whep/NAME     Content-Type: application/sdp (an offer that receives video [and audio])
           -> 201 Created, the SDP answer, Location: /whep/NAME/ID
    DELETE /whep/NAME/ID  -> 200: stop watching
    PATCH  /whep/NAME/ID  -> 405: no trickle ICE, no ICE restarts

``NAME`` is a WHIP stream's name, a ``--source`` name, or ``ROOM.ID`` for a call participant
(``GET /api/streams`` lists them). Every viewer of a stream plays the same stylized frames,
encoded once per codec (VP8 or H.264, whichever the viewer's offer prefers): one inference per
published frame, whatever the number of viewers. A viewer is closed when its stream ends.
"""

from __future__ import annotations

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from .broadcast import Broadcast
from .calls import end_stream_call, open_call
from .context import context_of
from .http import ApiError
from .negotiation import OfferError, accept_offer, answer_offer, negotiated_video_codecs
from .peers import CloseRequest, PeerCall
from .relay import AudioRelayTrack, VideoRelayTrack
from .settings import ServerSettings
from .wish import created, read_offer

__all__ = ["WhepViewer", "stop_watching", "watch"]


class WhepViewer(PeerCall):
    """One WHEP player watching one broadcast.

    :param call_id: the session's id (its URL is ``/whep/NAME/ID``).
    :param pc: the peer connection (owned).
    :param settings: server settings (timeouts).
    :param broadcast: what it watches.
    :param request_close: asks the registry to close this session.
    """

    kind = "whep"

    def __init__(self, call_id: str, pc: RTCPeerConnection, settings: ServerSettings, broadcast: Broadcast,
                 request_close: CloseRequest) -> None:
        super().__init__(call_id, pc, settings, request_close)
        self.broadcast = broadcast
        self.video = VideoRelayTrack("VP8")
        self.audio: AudioRelayTrack | None = None

    def add_tracks(self) -> None:
        """Send on the offer's receiving sections (call after the offer is applied)."""
        self.pc.addTrack(self.video)
        wants_audio = any(t.kind == "audio" for t in self.pc.getTransceivers())
        if wants_audio and self.broadcast.audio is not None:
            self.audio = AudioRelayTrack()
            self.pc.addTrack(self.audio)

    def play(self) -> None:
        """Start playing the broadcast in the codec the answer chose.

        :raises OfferError: the offer and this server have no video codec in common.
        """
        answer = self.pc.localDescription
        codecs = negotiated_video_codecs(answer) if answer is not None else {}
        codec = next((c for c in codecs.values() if c is not None), None)
        if codec is None:
            raise OfferError("the offer has no video codec this server sends: offer VP8 or H.264")
        self.video.codec = codec
        self.video.attach(self.broadcast.video)
        if self.audio is not None:
            self.audio.attach(self.broadcast.audio)

    def tick(self) -> None:
        if self.broadcast.closed:
            self.end(f"the stream {self.broadcast.name!r} ended")

    async def release(self, reason: str) -> None:
        self.video.stop()
        if self.audio is not None:
            self.audio.stop()


async def watch(request: web.Request) -> web.Response:
    """``POST /whep/{name}``: an SDP offer that receives video; answers 201 with the SDP answer."""
    ctx = context_of(request)
    name = request.match_info["name"]
    broadcast = ctx.streams.get(name)
    offer = await read_offer(request, video="receive")
    viewers = sum(1 for call in ctx.calls if isinstance(call, WhepViewer))
    if viewers >= ctx.settings.max_viewers:
        raise ApiError(503, f"the server is full ({ctx.settings.max_viewers} viewers); try again later")
    hosts = ctx.settings.host_candidate_addresses

    async def negotiate(viewer: WhepViewer) -> RTCSessionDescription:
        await accept_offer(viewer.pc, offer, hosts)
        viewer.add_tracks()
        answer = await answer_offer(viewer.pc, hosts)
        viewer.play()
        return answer

    viewer, answer = await open_call(
        ctx, lambda call_id, pc: WhepViewer(call_id, pc, ctx.settings, broadcast, ctx.calls.request_close), negotiate)
    return created(answer, f"/whep/{name}/{viewer.id}", ctx.settings)


async def stop_watching(request: web.Request) -> web.Response:
    """``DELETE /whep/{name}/{id}``: the viewer leaves."""
    viewer = context_of(request).call_at(request, WhepViewer)
    return await end_stream_call(request, viewer, viewer.broadcast.name, "the viewer left")

"""An SDP offer in, an SDP answer out: the checks and ICE choices of every route that takes an offer.

.. code-block:: python

    offer = check_offer(body["sdp"])                 # OfferError (400/413) with a reason
    pc = new_peer_connection(settings.ice_servers)
    await accept_offer(pc, offer, settings.host_candidate_addresses)
    answer = await answer_offer(pc, settings.host_candidate_addresses)

Offers are checked before aiortc sees them, so a malformed or incomplete one is refused with a
reason instead of failing later inside aiortc (an offer without ``a=fingerprint`` used to be
accepted and then end in an ``AssertionError`` in its DTLS task). Only complete offers are taken
(the ICE candidates gathered before sending: no trickle ICE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from ..errors import StreamerError
from .ice import host_candidates, is_loopback_address

if TYPE_CHECKING:
    from aiortc.sdp import MediaDescription

__all__ = ["MAX_SDP_CHARS", "Offer", "OfferError", "accept_offer", "answer_offer", "check_offer",
           "negotiated_video_codecs", "new_peer_connection"]

#: longest SDP offer accepted (a browser's offer is a few kilobytes)
MAX_SDP_CHARS = 32 * 1024

#: the DTLS fingerprint algorithms aiortc can check
FINGERPRINT_ALGORITHMS = ("sha-256", "sha-384", "sha-512")

NO_CANDIDATES_HINT = (
    "the offer lists no ICE candidates (network addresses): gather them before sending it "
    "(no trickle ICE). A browser on a machine with no network but loopback offers none unless "
    "allowed to: start Chrome/Chromium with --allow-loopback-in-peer-connection, or set "
    "media.peerconnection.ice.loopback to true in Firefox's about:config")

_CANDIDATE_LINE = re.compile(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ ")


class OfferError(StreamerError, ValueError):
    """The offer cannot be used; ``status`` is the HTTP status to answer with (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Offer:
    """A checked SDP offer.

    :param sdp: the offer's text.
    :param candidate_addresses: the addresses of its ICE candidates, in order.
    """

    sdp: str
    candidate_addresses: tuple[str, ...]

    def for_hosts(self, host_addresses: Sequence[str] | None) -> RTCSessionDescription:
        """The description to apply when the answer gathers on ``host_addresses``.

        A server that offers loopback addresses only keeps the offer's loopback candidates
        when it has any: the call then runs over loopback, and no check is sent to the
        caller's other addresses. Otherwise the offer is used as it is.
        """
        sdp = self.sdp
        if host_addresses and all(map(is_loopback_address, host_addresses)) \
                and any(map(is_loopback_address, self.candidate_addresses)):
            sdp = "".join(line for line in sdp.splitlines(keepends=True)
                          if (m := _CANDIDATE_LINE.match(line)) is None or is_loopback_address(m.group(1)))
        return RTCSessionDescription(sdp=sdp, type="offer")


def check_offer(sdp: object, *, video: str = "send", require_candidates: bool = True,
                max_chars: int = MAX_SDP_CHARS) -> Offer:
    """Check that ``sdp`` is a complete WebRTC offer with a video section.

    :param video: ``"send"``: the offer must send video (a camera, a publisher);
        ``"receive"``: it must receive video (a viewer).
    :param require_candidates: refuse an offer without ICE candidates. WHIP clients (FFmpeg's
        muxer) may send none: they send checks to the answer's candidates instead.
    :param max_chars: longest offer accepted (a call's offer has a section per slot).
    :raises OfferError: with the reason (status 413 when it is too long).
    """
    from aiortc import sdp as aiortc_sdp

    if not isinstance(sdp, str) or not sdp.strip():
        raise OfferError("sdp must be a non-empty string holding the SDP offer")
    if len(sdp) > max_chars:
        raise OfferError(f"the SDP offer is over {max_chars} characters", 413)
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("sdp is not an SDP offer (it must start with v=0)")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:  # the parser fails in many ways on malformed text
        raise OfferError(f"invalid SDP offer: cannot parse it ({type(exc).__name__}"
                         f"{': ' + str(exc) if str(exc) else ''})") from None
    if not parsed.media:
        raise OfferError("invalid SDP offer: it has no media section (m=)")
    for media in parsed.media:
        _check_media(media)
    if video == "receive":
        if not any(m.kind == "video" and m.direction in (None, "sendrecv", "recvonly") for m in parsed.media):
            raise OfferError("the offer receives no video: add a video transceiver (recvonly) before creating it")
    elif not any(m.kind == "video" and m.direction in (None, "sendrecv", "sendonly") for m in parsed.media):
        raise OfferError("the offer sends no video track: add the camera track before creating the offer")
    addresses = tuple(c.ip for m in parsed.media for c in m.ice_candidates)
    if not addresses and require_candidates:
        raise OfferError(NO_CANDIDATES_HINT)
    return Offer(sdp, addresses)


def _check_media(media: MediaDescription) -> None:
    kind = media.kind
    if kind not in ("audio", "video", "application"):
        raise OfferError(f"invalid SDP offer: unsupported media kind {kind!r}")
    if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
        raise OfferError(f"invalid SDP offer: the {kind} section has no a=ice-ufrag / a=ice-pwd")
    # aiortc leaves ``dtls`` unset when a section has no a=setup
    if media.dtls is None or not media.dtls.fingerprints:
        raise OfferError(f"invalid SDP offer: the {kind} section has no a=fingerprint and a=setup "
                         "(WebRTC needs DTLS; send an offer made by a WebRTC stack)")
    fingerprints = media.dtls.fingerprints
    unknown = [f.algorithm for f in fingerprints if f.algorithm.lower() not in FINGERPRINT_ALGORITHMS]
    if len(unknown) == len(fingerprints):
        raise OfferError(f"invalid SDP offer: fingerprint algorithm {unknown[0]!r} is not supported "
                         f"(use one of {', '.join(FINGERPRINT_ALGORITHMS)})")


def new_peer_connection(ice_servers: Iterable[RTCIceServer]) -> RTCPeerConnection:
    """A peer connection that uses exactly ``ice_servers`` (none: no public STUN server), all its
    media on one transport (``max-bundle``).

    aiortc's default (``balanced``) gives each kind of media its own transport until the offer's
    BUNDLE group is applied, and then moves only the first section of each kind onto the bundle's
    transport: when the offer's first section is audio (a browser's camera and microphone), every
    video section after the first stays on a transport that is closed, and aiortc never starts
    sending on it (a call's slots stayed black for Chromium; aiortc issue #1414).
    """
    return RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers),
                                              bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def accept_offer(pc: RTCPeerConnection, offer: Offer, host_addresses: Sequence[str] | None) -> None:
    """Apply ``offer`` as ``pc``'s remote description (see :meth:`Offer.for_hosts`).

    :raises OfferError: aiortc refused it (codecs it cannot use, a broken section...).
    """
    try:
        await pc.setRemoteDescription(offer.for_hosts(host_addresses))
    except Exception as exc:  # aiortc raises many kinds for SDP it cannot use
        raise OfferError(f"invalid SDP offer: {exc or type(exc).__name__}") from None


async def answer_offer(pc: RTCPeerConnection, host_addresses: Sequence[str] | None) -> RTCSessionDescription:
    """Create and apply the answer, gathering ICE host candidates on ``host_addresses``
    (``None``: every interface address); returns it, candidates included.

    :raises OfferError: aiortc cannot answer this offer.
    """
    try:
        with host_candidates(host_addresses):
            await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:
        raise OfferError(f"cannot answer this offer: {exc or type(exc).__name__}") from None
    answer = pc.localDescription
    if answer is None:  # pragma: no cover - set just above
        raise OfferError("cannot answer this offer")
    return answer


def negotiated_video_codecs(description: RTCSessionDescription) -> dict[str, str | None]:
    """The video codec each video section of an answer uses, by ``mid``: ``"VP8"``, ``"H264"``,
    or None where no codec was agreed (the section is rejected)."""
    from aiortc import sdp as aiortc_sdp

    from .encoding import codec_of_mime

    parsed = aiortc_sdp.SessionDescription.parse(description.sdp)
    return {str(m.rtp.muxId): (codec_of_mime(m.rtp.codecs[0].mimeType) if m.rtp.codecs and m.port else None)
            for m in parsed.media if m.kind == "video"}

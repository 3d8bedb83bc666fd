"""Calls: rooms where every participant sees and hears every other one, stylized as each chose.

A participant's offer sends a camera (and a microphone, if it has one) and receives on a fixed
number of *slots*: recvonly video sections (and audio ones) the server fills with the other
participants' stylized streams. When someone joins or leaves, the server moves streams between
slots (:meth:`VideoRelayTrack.attach <streamer.server.relay.VideoRelayTrack.attach>`): no
renegotiation, and the page learns which slot (``mid``) shows whom from a ``room`` message on
the data channel::

    {"type": "room", "room": "team", "you": "a1b2c3", "size": 4,
     "participants": [{"id": "a1b2c3", "name": "Ada", "style": "ember", ..., "mid": "2", "audio_mid": null},
                      {"id": "d4e5f6", "name": "Bob", "style": "wave", ..., "mid": "3", "audio_mid": "6"}]}

Each participant's camera is one :class:`~streamer.server.broadcast.Broadcast` (``ROOM.ID``,
also watchable over WHEP): one inference per frame, encoded once per codec, whatever the number
of people watching. Everything else a participant does goes over the data channel protocol of
sessions (:mod:`streamer.server.channel`): style, ping, stats, bye.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from ..styles import StyleRecipe
from .broadcast import Broadcast, BroadcastKind
from .channel import PARTICIPANT_LEFT, ControlChannel
from .http import ApiError
from .media import drain
from .negotiation import Offer, negotiated_video_codecs
from .peers import CloseRequest, PeerCall
from .relay import AudioRelayTrack, VideoRelayTrack
from .settings import ServerSettings

if TYPE_CHECKING:
    from .context import ServerContext

__all__ = ["Participant", "Room", "RoomDirectory", "Slot"]

#: monitor ticks (0.5 s) between stats messages
STATS_TICKS = 2


@dataclass
class Slot:
    """Where one other participant is shown: a video section and, paired with it, an audio one."""

    mid: str
    video: VideoRelayTrack
    audio: AudioRelayTrack | None = None
    audio_mid: str | None = None
    showing: Participant | None = None

    def show(self, participant: Participant | None, with_audio: bool = True) -> None:
        """Play ``participant``'s stream here (None: nothing)."""
        self.showing = participant
        self.video.attach(None if participant is None else participant.broadcast.video)
        if self.audio is not None:
            audio = participant.broadcast.audio if participant is not None and with_audio else None
            self.audio.attach(audio)

    def stop(self) -> None:
        self.showing = None
        self.video.stop()
        if self.audio is not None:
            self.audio.stop()


class Participant(PeerCall):
    """One person in a call: their camera as a broadcast, the others on their slots.

    :param call_id: the secret id the page uses for API calls and to rejoin (``replaces``).
    :param pc: the peer connection (owned).
    :param context: the server's shared objects (engine, gallery; the stream directory lists
        the participant's broadcast for WHEP viewers).
    :param room: the call.
    :param name: display name (default: ``guest``).
    :param tag: public id (kept when a participant rejoins).
    :param self_view: also show the participant their own stylized stream (first slot).
    :param request_close: asks the registry to close this call.
    """

    kind = "participant"
    receives_media = True

    def __init__(self, call_id: str, pc: RTCPeerConnection, context: ServerContext, room: Room, *,
                 name: str | None, tag: str | None, self_view: bool,
                 request_close: CloseRequest) -> None:
        super().__init__(call_id, pc, context.settings, request_close)
        self.room = room
        self.tag = tag or secrets.token_hex(3)
        self.name = name or f"guest-{self.tag[:4]}"
        self.self_view = self_view
        self._streams = context.streams
        self.broadcast = Broadcast(f"{room.name}.{self.tag}", BroadcastKind.ROOM, context.engine,
                                   context.settings, context.gallery, self.end)
        self.slots: list[Slot] = []
        self._ticks = 0
        self.control = ControlChannel(self._apply_style, self.snapshot, lambda: self.end(PARTICIPANT_LEFT))
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)

    # -- wiring (while the offer is applied) --------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        if not self.closing and not self.broadcast.take(track):
            self.spawn(drain(track), f"drain-{track.kind}")

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if not self.closing:
            self.control.attach(channel)
            self.control.send(self.room.state_for(self))

    def open_slots(self, offer: Offer) -> None:
        """Send on every section the offer only receives on: video ones become slots, audio ones
        are paired with them in order (call after the offer is applied, before answering)."""
        from aiortc import sdp as aiortc_sdp

        receiving = {str(m.rtp.muxId): m.kind for m in aiortc_sdp.SessionDescription.parse(offer.sdp).media
                     if m.direction == "recvonly"}
        audio: list[tuple[str, AudioRelayTrack]] = []
        for transceiver in self.pc.getTransceivers():
            kind = receiving.get(str(transceiver.mid))
            if kind is None:
                continue
            track: MediaStreamTrack = VideoRelayTrack("VP8") if kind == "video" else AudioRelayTrack()
            transceiver.sender.replaceTrack(track)
            transceiver.direction = "sendonly"
            if isinstance(track, VideoRelayTrack):
                self.slots.append(Slot(str(transceiver.mid), track))
            else:
                audio.append((str(transceiver.mid), track))  # type: ignore[arg-type]
        for slot, (mid, track) in zip(self.slots, audio, strict=False):
            slot.audio, slot.audio_mid = track, mid
        for _mid, track in audio[len(self.slots):]:
            track.stop()

    def use_codecs(self, answer: RTCSessionDescription) -> None:
        """Encode each slot in the codec its section agreed on (after answering)."""
        codecs = negotiated_video_codecs(answer)
        for slot in self.slots:
            slot.video.codec = codecs.get(slot.mid) or "VP8"

    # -- style and state ----------------------------------------------------------------------
    async def _apply_style(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        recipe = await self.set_style(fields)
        return recipe.as_dict()

    async def set_style(self, fields: Mapping[str, Any]) -> StyleRecipe:
        """Change this participant's style; everyone in the room is told."""
        recipe = await self.broadcast.set_style(fields)
        self.room.announce()
        return recipe

    def public(self) -> dict[str, Any]:
        """What the others see of this participant."""
        return {"id": self.tag, "name": self.name, **self.broadcast.recipe.as_dict(),
                "stream": self.broadcast.name, "connection": self.pc.connectionState}

    def snapshot(self) -> dict[str, Any]:
        """This participant's own view: their stream and what each slot shows (JSON-friendly)."""
        return {"participant_id": self.id, "room": self.room.name, **self.public(),
                **self.broadcast.snapshot(),
                "slots": [{"mid": s.mid, "showing": s.showing.tag if s.showing else None,
                           "sent": s.video.sent, "dropped": s.video.dropped} for s in self.slots]}

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        self.spawn(self.control.serve_styles(), "style")

    def last_media_at(self) -> float | None:
        return self.broadcast.last_frame_at

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % STATS_TICKS == 0:
            self.control.send({"type": "stats", **self.snapshot()})

    async def release(self, reason: str) -> None:
        self.room.leave(self)
        self._streams.remove(self.broadcast)
        await self.control.goodbye(reason)
        for slot in self.slots:
            slot.stop()
        await self.broadcast.close()


class Room:
    """One call: who is in it, and who each participant's slots show.

    :param name: the room's name.
    :param size: participants allowed at once.
    :param declared: the operator named it (``--room``): it stays when empty.
    :param on_empty: told when the last participant has left (or a join failed in an empty room).
    """

    def __init__(self, name: str, size: int, declared: bool = False,
                 on_empty: Callable[[Room], None] | None = None) -> None:
        self.name = name
        self.size = size
        self.declared = declared
        self.participants: dict[str, Participant] = {}  #: by public id, in joining order
        self._on_empty = on_empty
        self._seats_held = 0

    def __len__(self) -> int:
        return len(self.participants)

    @property
    def busy(self) -> bool:
        """True while someone is in, or joining."""
        return bool(self.participants) or self._seats_held > 0

    def _check_empty(self) -> None:
        if not self.busy and self._on_empty is not None:
            self._on_empty(self)

    @contextlib.contextmanager
    def seat(self, replacing: Participant | None = None) -> Iterator[None]:
        """Hold a seat while a participant joins (``replacing``: the one whose seat it takes).

        :raises ApiError: 409 the room is full.
        """
        taken = len(self.participants) + self._seats_held - (1 if replacing is not None else 0)
        if taken >= self.size:
            raise ApiError(409, f"room {self.name!r} is full ({self.size} of {self.size} people); "
                                "try again when someone leaves")
        self._seats_held += 1
        try:
            yield
        finally:
            self._seats_held -= 1
            self._check_empty()

    def find(self, call_id: object) -> Participant | None:
        """The participant whose secret id is ``call_id``, if any."""
        return next((p for p in self.participants.values() if p.id == call_id), None)

    def join(self, participant: Participant) -> None:
        """Add ``participant`` (inside its :meth:`seat` block) and show everyone to everyone."""
        self.participants[participant.tag] = participant
        self._arrange()

    def leave(self, participant: Participant) -> None:
        """Remove ``participant`` and give their slots in the others' pages to someone else."""
        if self.participants.get(participant.tag) is participant:
            del self.participants[participant.tag]
            self._arrange()
            self._check_empty()

    def _arrange(self) -> None:
        """Fill every participant's slots: themselves first if they asked to see themselves,
        then the others in joining order; someone already shown keeps their slot."""
        everyone = list(self.participants.values())
        for viewer in everyone:
            wanted = ([viewer] if viewer.self_view else []) + [p for p in everyone if p is not viewer]
            wanted = wanted[:len(viewer.slots)]
            kept = {slot.showing for slot in viewer.slots if slot.showing in wanted}
            for slot in viewer.slots:
                if slot.showing is not None and slot.showing not in kept:
                    slot.show(None)
            for person in wanted:
                if person in kept:
                    continue
                free = next((s for s in viewer.slots if s.showing is None), None)
                if free is not None:
                    free.show(person, with_audio=person is not viewer)
        self.announce()

    def state_for(self, viewer: Participant) -> dict[str, Any]:
        """The ``room`` message for ``viewer``: everyone, and which of their slots shows whom."""
        shown = {slot.showing.tag: slot for slot in viewer.slots if slot.showing is not None}
        people = []
        for person in self.participants.values():
            slot = shown.get(person.tag)
            people.append({**person.public(), "mid": slot.mid if slot else None,
                           "audio_mid": slot.audio_mid if slot and person is not viewer else None})
        return {"type": "room", "room": self.name, "you": viewer.tag, "size": self.size, "participants": people}

    def announce(self) -> None:
        """Send every participant the room's state."""
        for participant in list(self.participants.values()):
            participant.control.send(self.state_for(participant))

    def snapshot(self) -> dict[str, Any]:
        """Name, size and who is in (JSON-friendly; no secret ids)."""
        return {"name": self.name, "size": self.size, "declared": self.declared,
                "participants": [p.public() for p in self.participants.values()]}


class RoomDirectory:
    """The calls there are: the operator's (``--room``), else any valid name on first join.

    :param settings: ``rooms``, ``max_rooms`` and ``room_size``.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.size = settings.room_size
        self.max_rooms = settings.max_rooms
        self.fixed = bool(settings.rooms)
        self._rooms: dict[str, Room] = {name: Room(name, self.size, declared=True) for name in settings.rooms}

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def get(self, name: str) -> Room:
        """The room ``name`` (:raises ApiError: 404 if there is none)."""
        room = self._rooms.get(name)
        if room is None:
            raise ApiError(404, self._unknown(name))
        return room

    def open(self, name: str) -> Room:
        """The room ``name``, created if rooms are open to any name.

        :raises ApiError: 404 not one of the operator's rooms; 503 too many rooms.
        """
        room = self._rooms.get(name)
        if room is not None:
            return room
        if self.fixed:
            raise ApiError(404, self._unknown(name))
        if sum(1 for r in self._rooms.values() if r.busy) >= self.max_rooms:
            raise ApiError(503, f"the server is full ({self.max_rooms} calls); try again later")
        room = self._rooms[name] = Room(name, self.size, on_empty=self._forget)
        return room

    def _forget(self, room: Room) -> None:
        """An on-demand room emptied: it goes (the operator's rooms stay)."""
        if not room.declared and self._rooms.get(room.name) is room:
            del self._rooms[room.name]

    def _unknown(self, name: str) -> str:
        if self.fixed:
            return f"no room named {name!r} on this server (rooms: {', '.join(sorted(self._rooms))})"
        return f"no room named {name!r} (nobody is in it)"

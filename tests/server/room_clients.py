"""A call participant for the tests: an aiortc peer that joins a room as the room page does."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack

from .harness import PatternTrack, Received, Receiver, Server, loopback_offer, next_message


@dataclass(eq=False)
class Member(Receiver):
    """Joins a room: sends a camera (a constant or moving picture) and, if asked, a tone;
    receives on ``slots`` video sections (and as many audio ones) and keeps what each shows.
    ``audio_first``: the tone's section comes first in the offer, as in a browser's (its
    camera-and-microphone stream lists the microphone first). Its peer keeps every section on
    one transport, as browsers do: with aiortc's default (``balanced``) the client's own
    sections after the first of each kind stay on a transport closed by the answer's BUNDLE
    (aiortc #1414), and those slots never receive."""

    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)))
    camera: PatternTrack | None = None
    slots: int = 3
    audio: bool = False
    audio_first: bool = False
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=400))
    by_mid: dict[str, deque[Received]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=60)))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    audio_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    participant_id: str | None = None
    tag: str | None = None
    room: dict[str, Any] | None = None

    @classmethod
    def showing(cls, image: np.ndarray, fps: float = 15.0, **options: Any) -> Member:
        """A member whose camera shows ``image`` (the same picture every frame)."""
        return cls(camera=PatternTrack(lambda i: image, fps, limit=100_000, cycle=1), **options)

    async def join(self, server: Server, room: str, **fields: Any) -> tuple[int, Any]:
        """Offer and POST to ``/api/rooms/ROOM/participants``; a 201's answer is applied."""
        assert self.camera is not None
        if self.audio and self.audio_first:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.pc.addTransceiver(self.camera, direction="sendonly")
        if self.audio and not self.audio_first:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        for _ in range(self.slots):
            self.pc.addTransceiver("video", direction="recvonly")
        for _ in range(self.slots):
            self.pc.addTransceiver("audio", direction="recvonly")
        self.channel = self.pc.createDataChannel("control")
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)
        sdp = await loopback_offer(self.pc)
        status, body = await server.call("POST", f"/api/rooms/{room}/participants",
                                         json={"type": "offer", "sdp": sdp, **fields})
        if status == 201:
            self.participant_id, self.tag = body["participant_id"], body["id"]
            await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        return status, body

    def _on_message(self, message: str) -> None:
        data = {**json.loads(message), "_at": time.monotonic()}
        if data.get("type") == "room":
            self.room = data
        self.messages.append(data)

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next(str(t.mid) for t in self.pc.getTransceivers() if t.receiver.track is track)
        reader = self._read(track, mid) if track.kind == "video" else self._count_audio(mid, track)
        self._tasks.append(asyncio.ensure_future(reader))

    def keep(self, key: str, frame: Received) -> None:
        self.counts[key] += 1
        self.by_mid[key].append(frame)

    async def _count_audio(self, mid: str, track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.audio_counts[mid] += 1

    def entry(self, tag: str) -> dict[str, Any] | None:
        """What the last room message says of participant ``tag``."""
        people = (self.room or {}).get("participants", [])
        return next((p for p in people if p["id"] == tag), None)

    def mid_of(self, tag: str) -> str | None:
        """The video section that shows participant ``tag`` now."""
        entry = self.entry(tag)
        return entry["mid"] if entry else None

    async def wait_shown(self, tag: str, frames: int = 3, limit: float = 60.0) -> str:
        """Wait (bounded) until ``frames`` frames of participant ``tag`` came; returns the mid."""
        deadline = time.monotonic() + limit
        while True:
            mid = self.mid_of(tag)
            if mid is not None and self.counts[mid] >= frames:
                return mid
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.tag} did not get {frames} frames of {tag} in {limit} s "
                                     f"(mid {mid}, counts {dict(self.counts)})")
            await asyncio.sleep(0.02)

    async def next_frame_of(self, tag: str, limit: float = 30.0) -> np.ndarray:
        """The next frame that arrives from participant ``tag``."""
        mid = await self.wait_shown(tag, 1, limit)
        count = self.counts[mid]
        deadline = time.monotonic() + limit
        while self.counts[mid] <= count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no new frame of {tag} in {limit} s")
            await asyncio.sleep(0.01)
        return self.by_mid[mid][-1].image

    async def wait_message(self, kind: str, limit: float = 15.0, match: Any = lambda m: True) -> dict[str, Any]:
        """Wait (bounded) for a data channel message of ``kind``; consume messages up to it."""
        return await next_message(self.messages, kind, limit, match)

    def send(self, message: dict[str, Any]) -> None:
        self.channel.send(json.dumps(message))

    async def close(self) -> None:
        if self.camera is not None:
            self.camera.stop()
        await super().close()

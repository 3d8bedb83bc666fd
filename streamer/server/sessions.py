"""Sessions: one peer connection each, what flows through it, and when it ends.

A :class:`Session` is a thin adapter around one :class:`~streamer.stream.EngineStream`: the
client's video track feeds it, its results are the outgoing track, its style recipe is what the
client sets. The session owns its peer connection, the stream, the outgoing track and its
tasks; :meth:`Session.close` releases all of them, whatever the reason (the client said
goodbye, the tab vanished and video stopped, ICE failed, inference failed, one of its tasks
failed, the server shuts down), and tells the page why over the data channel
(``{"type": "closed", "reason": ...}``). Every task is supervised: one that fails closes the
session with the reason. The :class:`SessionRegistry` enforces the session limit and runs the
closes that events request.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from ..config import QueuePolicy
from ..engine import Engine
from ..errors import StreamerError
from ..frames import Frame
from ..metrics import StreamMeters
from ..styles import StyleRecipe
from .channel import CLIENT_DELETED, CLIENT_SAID_GOODBYE, ControlChannel
from .media import VideoPump, drain
from .peers import CloseRequest, PeerCall
from .settings import AudioMode, ServerSettings
from .styling import Gallery, StreamStyle
from .tracks import StylizedTrack

__all__ = ["CLIENT_DELETED", "Session", "SessionLimitError", "SessionRegistry", "SessionState", "UnknownSessionError"]

logger = logging.getLogger(__name__)



class SessionLimitError(StreamerError):
    """All session slots are taken."""


class UnknownSessionError(StreamerError, KeyError):
    """No session has that id (it never existed, or it has ended)."""


class SessionState(enum.StrEnum):
    """Lifecycle of a :class:`Session`."""

    NEW = "new"  #: negotiating, no video yet
    ACTIVE = "active"  #: video is flowing
    CLOSED = "closed"


class Session(PeerCall):
    """One client's call: camera frames in, stylized frames out, style control on the side.

    :param session_id: the id the client uses in API calls.
    :param pc: the peer connection (owned: closed by :meth:`close`).
    :param engine: the shared engine; the session opens its own ``latest`` stream on it.
    :param settings: server settings (processing size, audio mode, timeouts).
    :param gallery: the shared styles.
    :param request_close: asks the owner to close this session (from event handlers).
    """

    kind = "session"
    receives_media = True

    def __init__(self, session_id: str, pc: RTCPeerConnection, engine: Engine, settings: ServerSettings,
                 gallery: Gallery, request_close: CloseRequest) -> None:
        self.style = StreamStyle(gallery, engine.styles)
        # first: a failed engine refuses here, before the peer connection's events reach us
        self._stream = engine.open_stream(f"session-{session_id[:8]}", QueuePolicy.LATEST, capacity=1,
                                          size=settings.size, results=1, lookup=self.style.lookup)
        super().__init__(session_id, pc, settings, request_close)
        self.state = SessionState.NEW
        self.style.bind(self._stream)
        self.output = StylizedTrack(self._stream, on_failure=lambda error: self.end(str(error)))
        self._pump = VideoPump(self._stream)
        self.control = ControlChannel(self._apply_style, self.snapshot, lambda: self.end(CLIENT_SAID_GOODBYE))
        self._has_video = False
        self._ticks = 0
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)

    # -- wiring (called while the offer is applied) ------------------------------------------
    @property
    def last_input(self) -> Frame | None:
        """The newest decoded camera frame (what the engine was last given)."""
        return self._pump.latest

    @property
    def has_video(self) -> bool:
        """True once the client's offer gave us a video track."""
        return self._has_video

    @property
    def recipe(self) -> StyleRecipe:
        """The style recipe in use."""
        return self.style.recipe

    @property
    def stats(self) -> StreamMeters:
        """Frames in and out, their rates, and latency (decoded -> handed to the encoder)."""
        return self._stream.meters

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.closing:
            return
        if track.kind == "video" and not self._has_video:
            self._has_video = True
            self.pc.addTrack(self.output)
            self.spawn(self._run_pump(track), "video")
        elif track.kind == "audio" and self.settings.audio is AudioMode.ECHO:
            self.pc.addTrack(track)  # the sender reads it: one consumer, no extra queue
        else:
            self.spawn(drain(track), f"drain-{track.kind}")

    async def _run_pump(self, track: MediaStreamTrack) -> None:
        self.end(await self._pump.run(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if not self.closing:
            self.control.attach(channel)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the session's background work (style requests, liveness, stats)."""
        self.spawn(self.control.serve_styles(), "style")
        super().start()

    def last_media_at(self) -> float | None:
        return self._pump.last_frame_at

    def tick(self) -> None:
        self._ticks += 1
        if self._pump.last_frame_at is not None:
            self.state = SessionState.ACTIVE
        if self._ticks % 2 == 0:
            self.control.send({"type": "stats", **self.snapshot()})

    async def release(self, reason: str) -> None:
        self._stream.close()
        await self.control.goodbye(reason)
        self.output.stop()
        self.style.release()
        self.state = SessionState.CLOSED

    # -- style control ------------------------------------------------------------------------
    async def set_style(self, fields: Mapping[str, Any]) -> StyleRecipe:
        """Change style, second style, mix or strength; applies to the next frame.

        :raises ConfigError: a field has a bad value.
        :raises StyleError: an unknown style, or strength < 1 without a predictor.
        """
        return await self.style.update(fields)

    async def upload_style(self, data: bytes, apply: bool = True) -> str:
        """Add an uploaded style image; make it the main style if ``apply``. Returns its name."""
        return await self.style.upload(data, apply)

    async def _apply_style(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.set_style(fields)).as_dict()

    # -- views --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """State, style and counters (JSON-friendly)."""
        engine_stats = self._stream.stats
        return {
            "session_id": self.id,
            "state": self.state.value,
            "connection": self.pc.connectionState,
            **self.style.as_dict(),
            **self._stream.meters.as_dict(),
            "dropped": engine_stats.dropped,
            "stylized": engine_stats.processed,
            "inference_seconds": round(engine_stats.inference_seconds, 3),
        }


class Call(Protocol):
    """What a registry holds: something with an id that closes with a reason."""

    @property
    def id(self) -> str: ...  # noqa: D102

    async def close(self, reason: str) -> None: ...  # noqa: D102


CallT = TypeVar("CallT", bound=Call)


class SessionRegistry(Generic[CallT]):
    """The live sessions (or other calls), their limit, and the closes that events ask for.

    :param max_sessions: sessions allowed at once (counting ones still negotiating).
    :param noun: what is counted, in messages (``session``, ``call``).
    """

    def __init__(self, max_sessions: int, noun: str = "session") -> None:
        self.max_sessions = max_sessions
        self.noun = noun
        self._sessions: dict[str, CallT] = {}
        self._reserved = 0
        self._closers: set[asyncio.Task[None]] = set()
        self._peers: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
        self._shut = False
        self.closed_count = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[CallT]:
        return iter(list(self._sessions.values()))

    @contextlib.contextmanager
    def reserve(self) -> Iterator[str]:
        """Hold a slot while a session is negotiated; yields a fresh session id.

        :raises SessionLimitError: no slot is free.
        """
        if self._shut:
            raise SessionLimitError("the server is shutting down")
        if len(self._sessions) + self._reserved >= self.max_sessions:
            raise SessionLimitError(f"the server is full ({self.max_sessions} {self.noun}s); try again later")
        self._reserved += 1
        try:
            yield secrets.token_urlsafe(16)
        finally:
            self._reserved -= 1

    def watch(self, pc: RTCPeerConnection) -> None:
        """Count ``pc`` in :attr:`open_peer_connections` until it is closed or collected."""
        self._peers.add(pc)

    @property
    def open_peer_connections(self) -> int:
        """Peer connections created for sessions and not closed yet (a leak check)."""
        return sum(1 for pc in list(self._peers) if pc.connectionState != "closed")

    def add(self, session: CallT) -> None:
        """Register a negotiated session (inside its :meth:`reserve` block).

        :raises SessionLimitError: the server began shutting down meanwhile.
        """
        if self._shut:
            raise SessionLimitError("the server is shutting down")
        self._sessions[session.id] = session

    def get(self, session_id: str) -> CallT:
        """The live session ``session_id`` (:raises UnknownSessionError:)."""
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSessionError(f"no {self.noun} {session_id!r} (it may have ended)")
        return session

    def request_close(self, session: CallT, reason: str) -> None:
        """Close ``session`` soon, from a callback or from one of its own tasks."""
        task = asyncio.ensure_future(self.close(session, reason))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def close(self, session: CallT, reason: str) -> None:
        """Close ``session`` now and forget it (it holds its slot until it is fully closed)."""
        try:
            await session.close(reason)
        finally:
            if self._sessions.get(session.id) is session:
                del self._sessions[session.id]
                self.closed_count += 1

    async def close_all(self, reason: str) -> None:
        """Refuse new sessions, close every session, and wait for pending closes (shutdown)."""
        self._shut = True
        await asyncio.gather(*(self.close(s, reason) for s in self), return_exceptions=True)
        while self._closers:
            await asyncio.gather(*list(self._closers), return_exceptions=True)

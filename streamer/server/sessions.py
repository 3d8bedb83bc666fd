"""Sessions: one peer connection each, what flows through it, and when it ends.

A :class:`Session` owns its peer connection, its engine stream, its result buffer, its outgoing
track and its tasks; :meth:`Session.close` releases all of them, whatever the reason (the client
said goodbye, the tab vanished and video stopped, ICE failed, the server shuts down). The
:class:`SessionRegistry` enforces the session limit and runs the closes that events request.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from ..buffers import FrameBuffer
from ..config import QueuePolicy
from ..engine import Engine
from ..errors import StreamerError
from ..frames import Frame
from .media import VideoPump, drain
from .settings import AudioMode, ServerSettings
from .stats import SessionStats
from .styling import Gallery, SessionStyles, StyleChoice
from .tracks import StylizedTrack

__all__ = ["Session", "SessionLimitError", "SessionRegistry", "SessionState", "UnknownSessionError"]

logger = logging.getLogger(__name__)

#: control messages larger than this are refused
MAX_MESSAGE_BYTES = 4096
MONITOR_PERIOD = 0.5


class SessionLimitError(StreamerError):
    """All session slots are taken."""


class UnknownSessionError(StreamerError, KeyError):
    """No session has that id (it never existed, or it has ended)."""


class SessionState(enum.StrEnum):
    """Lifecycle of a :class:`Session`."""

    NEW = "new"  #: negotiating, no video yet
    ACTIVE = "active"  #: video is flowing
    CLOSED = "closed"


class Session:
    """One client's call: camera frames in, stylized frames out, style control on the side.

    :param session_id: the id the client uses in API calls.
    :param pc: the peer connection (owned: closed by :meth:`close`).
    :param engine: the shared engine; the session opens its own ``latest`` stream on it.
    :param settings: server settings (processing size, audio mode, timeouts).
    :param gallery: the shared styles.
    :param request_close: asks the owner to close this session (from event handlers).
    """

    def __init__(self, session_id: str, pc: RTCPeerConnection, engine: Engine, settings: ServerSettings,
                 gallery: Gallery, request_close: Callable[[Session, str], None]) -> None:
        self.id = session_id
        self.pc = pc
        self.settings = settings
        self.state = SessionState.NEW
        self.created_at = time.monotonic()
        self.close_reason: str | None = None
        self.stats = SessionStats()
        self.choice = StyleChoice(style=gallery.default)
        self._request_close = request_close
        self._stream = engine.open_stream(f"session-{session_id[:8]}", QueuePolicy.LATEST, capacity=1,
                                          size=settings.size)
        self._results: FrameBuffer[Frame] = FrameBuffer(1, QueuePolicy.LATEST)
        self.output = StylizedTrack(self._results, self.stats)
        self._pump = VideoPump(self._stream, self._results, self.stats)
        self.styles = SessionStyles(gallery, engine.styles)
        self._style_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channel: RTCDataChannel | None = None
        self._pending_style: dict[str, Any] | None = None
        self._style_wanted = asyncio.Event()
        self._has_video = False
        self._disconnected_at: float | None = None
        self._closed = asyncio.Event()
        self._closing = False
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)

    # -- wiring (called while the offer is applied) ------------------------------------------
    @property
    def last_input(self) -> Frame | None:
        """The newest decoded camera frame (what the engine was last given)."""
        return self._pump.latest

    @property
    def has_video(self) -> bool:
        """True once the client's offer gave us a video track."""
        return self._has_video

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"session-{self.id[:8]}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self._closing:
            return
        if track.kind == "video" and not self._has_video:
            self._has_video = True
            self.pc.addTrack(self.output)
            self._spawn(self._run_pump(track), "video")
        elif track.kind == "audio" and self.settings.audio is AudioMode.ECHO:
            self.pc.addTrack(track)  # the sender reads it: one consumer, no extra queue
        else:
            self._spawn(drain(track), f"drain-{track.kind}")

    async def _run_pump(self, track: MediaStreamTrack) -> None:
        await self._pump.run(track)
        self._request_close(self, "the client's video track ended")

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self._channel is not None or self._closing:
            return
        self._channel = channel
        channel.on("message", self._on_message)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self._request_close(self, f"connection {state}")
        elif state == "disconnected":
            self._disconnected_at = time.monotonic()
        else:
            self._disconnected_at = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the session's background work (style requests, liveness, stats)."""
        self._spawn(self._style_loop(), "style")
        self._spawn(self._monitor(), "monitor")

    async def close(self, reason: str) -> None:
        """Free everything this session holds. Idempotent; later calls wait for the first."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self.close_reason = reason
        logger.info("session %s closing: %s", self.id[:8], reason)
        self._stream.close()
        self._results.close()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.output.stop()
        try:
            await self.pc.close()
        except Exception:  # a half-negotiated connection can fail to close; it is gone either way
            logger.debug("closing the peer connection of %s failed", self.id[:8], exc_info=True)
        self.pc.remove_all_listeners()
        self.styles.release()
        self._channel = None
        self.state = SessionState.CLOSED
        self._closed.set()

    async def _monitor(self) -> None:
        """Free the session when its peer is gone; send stats; keep the camera embedding fresh."""
        ticks = 0
        while True:
            await asyncio.sleep(MONITOR_PERIOD)
            ticks += 1
            if self._pump.last_frame_at is not None:
                self.state = SessionState.ACTIVE
            reason = self._dead_reason()
            if reason is not None:
                self._request_close(self, reason)
                return
            if ticks % 2 == 0:
                self._send({"type": "stats", **self.snapshot()})
                if self.choice.strength < 1.0 and self.styles.content_is_stale():
                    await self._refresh_content()

    def _dead_reason(self) -> str | None:
        now = time.monotonic()
        settings = self.settings
        if self._disconnected_at is not None and now - self._disconnected_at > settings.idle_timeout:
            return f"connection lost for {settings.idle_timeout:g} s"
        last = self._pump.last_frame_at
        if last is None:
            if now - self.created_at > settings.connect_timeout:
                return f"no video within {settings.connect_timeout:g} s"
            return None
        if now - last > settings.idle_timeout:
            return f"no video for {settings.idle_timeout:g} s"
        return None

    async def _refresh_content(self) -> None:
        frame = self._pump.latest
        if frame is None:
            return
        try:
            async with self._style_lock:
                await self.styles.refresh_content(frame.image)
                await self._apply_choice(self.choice)
        except StreamerError as exc:
            logger.warning("session %s: cannot refresh the camera embedding: %s", self.id[:8], exc)

    # -- style control ------------------------------------------------------------------------
    async def _apply_choice(self, choice: StyleChoice) -> None:
        latest = self._pump.latest
        embedding = await self.styles.compose(choice, None if latest is None else latest.image)
        self._stream.style = embedding
        self.choice = choice

    async def set_style(self, fields: Mapping[str, Any]) -> StyleChoice:
        """Change style, second style, mix or strength; applies to the next frame.

        :raises ConfigError: a field has a bad value.
        :raises StyleError: an unknown style, or strength < 1 without a predictor.
        """
        async with self._style_lock:
            choice = self.choice.updated(fields)
            await self._apply_choice(choice)
            return choice

    async def upload_style(self, data: bytes, apply: bool = True) -> str:
        """Add an uploaded style image; make it the main style if ``apply``. Returns its name."""
        name = await self.styles.add_upload(data)
        if apply:
            await self.set_style({"style": name})
        return name

    async def _style_loop(self) -> None:
        """Apply style requests from the data channel, newest first (older ones are skipped)."""
        while True:
            await self._style_wanted.wait()
            self._style_wanted.clear()
            request, self._pending_style = self._pending_style, None
            if request is None:
                continue
            try:
                choice = await self.set_style(request)
                self._send({"type": "style", "id": request.get("id"), "ok": True, **choice.as_dict()})
            except StreamerError as exc:
                self._send({"type": "style", "id": request.get("id"), "ok": False, "error": str(exc)})

    # -- data channel -------------------------------------------------------------------------
    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes) or len(message) > MAX_MESSAGE_BYTES:
            self._send({"type": "error", "error": f"messages must be JSON text under {MAX_MESSAGE_BYTES} bytes"})
            return
        try:
            data = json.loads(message)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._send({"type": "error", "error": "messages must be JSON objects"})
            return
        kind = data.get("type")
        if kind == "ping":
            self._send({"type": "pong", "id": data.get("id"), "t": data.get("t")})
        elif kind == "style":
            self._pending_style = data
            self._style_wanted.set()
        elif kind == "stats":
            self._send({"type": "stats", **self.snapshot()})
        elif kind == "bye":
            self._request_close(self, "the client said goodbye")
        else:
            self._send({"type": "error", "error": f"unknown message type {kind!r}"})

    def _send(self, message: dict[str, Any]) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    # -- views --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """State, style and counters (JSON-friendly)."""
        engine_stats = self._stream.stats
        return {
            "session_id": self.id,
            "state": self.state.value,
            "connection": self.pc.connectionState,
            **self.choice.as_dict(),
            "uploads": self.styles.uploads,
            **self.stats.as_dict(),
            "dropped": engine_stats.dropped,
            "stylized": engine_stats.processed,
            "inference_seconds": round(engine_stats.inference_seconds, 3),
        }


class SessionRegistry:
    """The live sessions, the session limit, and the closes that events ask for.

    :param max_sessions: sessions allowed at once (counting ones still negotiating).
    """

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}
        self._reserved = 0
        self._closers: set[asyncio.Task[None]] = set()
        self._peers: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
        self._shut = False
        self.closed_count = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    @contextlib.contextmanager
    def reserve(self) -> Iterator[str]:
        """Hold a slot while a session is negotiated; yields a fresh session id.

        :raises SessionLimitError: no slot is free.
        """
        if self._shut:
            raise SessionLimitError("the server is shutting down")
        if len(self._sessions) + self._reserved >= self.max_sessions:
            raise SessionLimitError(f"the server is full ({self.max_sessions} sessions); try again later")
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

    def add(self, session: Session) -> None:
        """Register a negotiated session (inside its :meth:`reserve` block).

        :raises SessionLimitError: the server began shutting down meanwhile.
        """
        if self._shut:
            raise SessionLimitError("the server is shutting down")
        self._sessions[session.id] = session

    def get(self, session_id: str) -> Session:
        """The live session ``session_id`` (:raises UnknownSessionError:)."""
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSessionError(f"no session {session_id!r} (it may have ended)")
        return session

    def request_close(self, session: Session, reason: str) -> None:
        """Close ``session`` soon, from a callback or from one of its own tasks."""
        task = asyncio.ensure_future(self.close(session, reason))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def close(self, session: Session, reason: str) -> None:
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

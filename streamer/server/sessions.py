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
import json
import logging
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from ..config import QueuePolicy
from ..engine import Engine
from ..errors import EngineClosedError, StreamerError
from ..frames import Frame
from ..metrics import StreamMeters
from ..styles import StyleRecipe
from ..tasks import spawn_supervised
from .media import VideoPump, drain
from .settings import AudioMode, ServerSettings
from .styling import Gallery, SessionStyles
from .tracks import StylizedTrack

__all__ = ["Session", "SessionLimitError", "SessionRegistry", "SessionState", "UnknownSessionError"]

logger = logging.getLogger(__name__)

#: control messages larger than this are refused
MAX_MESSAGE_BYTES = 4096
MONITOR_PERIOD = 0.5
#: at close, how long the goodbye message may take to leave before the connection closes
GOODBYE_FLUSH_SECONDS = 0.5
CLIENT_SAID_GOODBYE = "the client said goodbye"  # a "bye" message on the data channel
CLIENT_DELETED = "closed by the client"  # DELETE /api/sessions/ID
CLIENT_ENDED = (CLIENT_SAID_GOODBYE, CLIENT_DELETED)


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
        self.recipe = StyleRecipe(() if gallery.default is None else (gallery.default,))
        self._request_close = request_close
        self.styles = SessionStyles(gallery, engine.styles)
        self._stream = engine.open_stream(f"session-{session_id[:8]}", QueuePolicy.LATEST, capacity=1,
                                          size=settings.size, results=1, lookup=self.styles.lookup)
        self.output = StylizedTrack(self._stream, on_failure=self._engine_failed)
        self._pump = VideoPump(self._stream)
        self._style_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channel: RTCDataChannel | None = None
        self._pending_style: dict[str, Any] | None = None
        self._pending_ids: list[Any] = []
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

    @property
    def stats(self) -> StreamMeters:
        """Frames in and out, their rates, and latency (decoded -> handed to the encoder)."""
        return self._stream.meters

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        spawn_supervised(coro, f"session-{self.id[:8]}-{name}", self._task_failed, self._tasks)

    def _task_failed(self, name: str, error: BaseException) -> None:
        self._request_close(self, f"internal error ({name.rsplit('-', 1)[-1]}): {error}")

    def _engine_failed(self, error: EngineClosedError) -> None:
        self._request_close(self, str(error))

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
        self._request_close(self, await self._pump.run(track))

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
        if reason not in CLIENT_ENDED:  # the page that ended it is not told its own news
            await self._say_goodbye(reason)
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

    async def _say_goodbye(self, reason: str) -> None:
        """Tell the page why the session ends, and give the message a moment to leave."""
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        try:
            channel.send(json.dumps({"type": "closed", "reason": reason}))
            deadline = time.monotonic() + GOODBYE_FLUSH_SECONDS
            while channel.bufferedAmount > 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        except Exception:  # the channel went away meanwhile: nobody is left to tell
            logger.debug("cannot send the goodbye of %s", self.id[:8], exc_info=True)

    async def _monitor(self) -> None:
        """Free the session when its peer is gone; send stats."""
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

    # -- style control ------------------------------------------------------------------------
    async def set_style(self, fields: Mapping[str, Any]) -> StyleRecipe:
        """Change style, second style, mix or strength; applies to the next frame.

        :raises ConfigError: a field has a bad value.
        :raises StyleError: an unknown style, or strength < 1 without a predictor.
        """
        async with self._style_lock:
            recipe = self.recipe.updated(fields)
            await self._stream.set_style(recipe)
            self.recipe = recipe
            return recipe

    async def upload_style(self, data: bytes, apply: bool = True) -> str:
        """Add an uploaded style image; make it the main style if ``apply``. Returns its name."""
        name = await self.styles.add_upload(data)
        if apply:
            await self.set_style({"style": name})
        return name

    async def _style_loop(self) -> None:
        """Apply style requests from the data channel. Requests that arrive while one is being
        applied are merged (later fields win) and applied together; every request is answered."""
        while True:
            await self._style_wanted.wait()
            self._style_wanted.clear()
            request, self._pending_style = self._pending_style, None
            ids, self._pending_ids = self._pending_ids, []
            if request is None:
                continue
            try:
                answer = {"ok": True, **(await self.set_style(request)).as_dict()}
            except StreamerError as exc:
                answer = {"ok": False, "error": str(exc)}
            for request_id in ids:
                self._send({"type": "style", "id": request_id, **answer})

    # -- data channel -------------------------------------------------------------------------
    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes) or len(message) > MAX_MESSAGE_BYTES:
            self._send({"type": "error", "error": f"messages must be JSON text under {MAX_MESSAGE_BYTES} bytes"})
            return
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
            data = None
        if not isinstance(data, dict):
            self._send({"type": "error", "error": "messages must be JSON objects"})
            return
        kind = data.get("type")
        if kind == "ping":
            self._send({"type": "pong", "id": data.get("id"), "t": data.get("t")})
        elif kind == "style":
            fields = {k: v for k, v in data.items() if k not in ("type", "id")}
            self._pending_style = {**(self._pending_style or {}), **fields}
            self._pending_ids.append(data.get("id"))
            self._style_wanted.set()
        elif kind == "stats":
            self._send({"type": "stats", **self.snapshot()})
        elif kind == "bye":
            self._request_close(self, CLIENT_SAID_GOODBYE)
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
            **self.recipe.as_dict(),
            "uploads": self.styles.uploads,
            **self._stream.meters.as_dict(),
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

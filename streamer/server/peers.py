"""A peer connection and what hangs on it, ended once with a reason: the base of WHIP publishers,
WHEP viewers and room participants.

A call ends when its owner asks (HTTP ``DELETE``, a goodbye on the data channel), when the
peer hangs up or vanishes (connection ``closed``/``failed``, ``disconnected`` for
``--idle-timeout`` s, no media for that long), when it never connects (10 s),
when inference fails or one of its tasks fails. Whatever the reason, :meth:`PeerCall.close`
releases everything the call holds; it is idempotent. Calls live in a
:class:`~streamer.server.sessions.SessionRegistry`, which runs the closes events request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCPeerConnection

from ..tasks import spawn_supervised
from .settings import ServerSettings

__all__ = ["CloseRequest", "PeerCall"]

logger = logging.getLogger(__name__)

MONITOR_PERIOD = 0.5

#: asks a registry to close a call (the registry's ``request_close``)
CloseRequest = Callable[[Any, str], None]


class PeerCall:
    """One peer connection's call.

    :param call_id: the id the client uses (the resource's URL, API calls).
    :param pc: the peer connection (owned: closed by :meth:`close`).
    :param settings: server settings (timeouts).
    :param request_close: asks the registry to close this call (from callbacks and tasks).
    """

    kind = "call"  #: for logs and task names
    receives_media = False  #: True: media must arrive within the connect timeout and keep coming

    def __init__(self, call_id: str, pc: RTCPeerConnection, settings: ServerSettings,
                 request_close: CloseRequest) -> None:
        self.id = call_id
        self.pc = pc
        self.settings = settings
        self.created_at = time.monotonic()
        self.close_reason: str | None = None
        self._request_close = request_close
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._closed = asyncio.Event()
        self._connected = False
        self._disconnected_at: float | None = None
        pc.on("connectionstatechange", self._on_connection_state)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` has begun."""
        return self._closing

    def end(self, reason: str) -> None:
        """Close this call soon (from a callback or one of its own tasks)."""
        if not self._closing:
            self._request_close(self, reason)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as one of this call's tasks: cancelled at close, a failure ends the call."""
        spawn_supervised(coro, f"{self.kind}-{self.id[:8]}-{name}", self._task_failed, self._tasks)

    def _task_failed(self, name: str, error: BaseException) -> None:
        self.end(f"internal error ({name.rsplit('-', 1)[-1]}): {error}")

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self.end(f"connection {state}")
        elif state == "disconnected":
            self._disconnected_at = time.monotonic()
        else:
            self._connected = self._connected or state == "connected"
            self._disconnected_at = None

    # -- liveness -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching the call's liveness (after the answer is sent)."""
        self.spawn(self._monitor(), "monitor")

    def last_media_at(self) -> float | None:
        """When media last arrived (calls that receive media say; None: nothing yet)."""
        return None

    def tick(self) -> None:  # noqa: B027 - optional hook
        """Called every :data:`MONITOR_PERIOD` seconds while the call is alive."""

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(MONITOR_PERIOD)
            reason = self.dead_reason()
            if reason is not None:
                self.end(reason)
                return
            self.tick()

    def dead_reason(self) -> str | None:
        """Why the call should end now, if it should."""
        now = time.monotonic()
        idle, connect = self.settings.idle_timeout, self.settings.connect_timeout
        if self._disconnected_at is not None and now - self._disconnected_at > idle:
            return f"connection lost for {idle:g} s"
        if not self.receives_media:
            if not self._connected and now - self.created_at > connect:
                return f"not connected within {connect:g} s"
            return None
        last = self.last_media_at()
        if last is None:
            return f"no video within {connect:g} s" if now - self.created_at > connect else None
        return f"no video for {idle:g} s" if now - last > idle else None

    # -- the end ------------------------------------------------------------------------------
    async def release(self, reason: str) -> None:  # noqa: B027 - optional hook
        """Free what the subclass holds (runs first in :meth:`close`, once)."""

    async def close(self, reason: str) -> None:
        """Free everything this call holds. Idempotent; later calls wait for the first."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self.close_reason = reason
        logger.info("%s %s closing: %s", self.kind, self.id[:8], reason)
        try:
            await self.release(reason)
        finally:
            current = asyncio.current_task()
            tasks = [t for t in self._tasks if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await self.pc.close()
            except Exception:  # a half-negotiated connection can fail to close; it is gone either way
                logger.debug("closing the peer connection of %s failed", self.id[:8], exc_info=True)
            self.pc.remove_all_listeners()
            self._closed.set()

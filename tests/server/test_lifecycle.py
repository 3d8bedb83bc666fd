"""Sessions end cleanly whatever ends them: hang-up, goodbye, lost peer, ICE failure, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import re
import signal
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from streamer.config import ProcessingSize
from streamer.engine import Engine
from streamer.inference.backends import BackendOptions
from streamer.inference.process import ProcessPriority
from streamer.server import Gallery, ServerSettings

from ..fakes import failing_engine
from ..media import pattern_frame
from .harness import Caller, PatternTrack, checker, loopback_offer, run, running_server, started_engine

ROOT = Path(__file__).resolve().parents[2]


def _rss_bytes() -> int:
    """Resident memory after a full collection, with glibc's free heap pages handed back.

    Without ``malloc_trim`` the figure also counts memory glibc keeps cached in per-thread
    arenas (aiortc starts a decoder thread per call), which plateaus but is not a leak.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _threads() -> set[str]:
    """Names of running threads, less the loop's default executor (a pool that grows on demand
    up to its fixed size while aiortc encodes; it is shut down with the loop)."""
    return {t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")}


def _settings(**overrides: object) -> ServerSettings:
    return ServerSettings(port=0, size=ProcessingSize(128), **overrides)  # type: ignore[arg-type]


def test_session_when_client_says_bye_or_deletes_then_freed(model: str) -> None:
    async def scenario() -> list[str]:
        reasons = []
        async with started_engine(model) as engine, running_server(engine) as server:
            for how in ("bye", "delete"):
                caller = Caller.sending(lambda i: checker(120, 160))
                await caller.connect(server)
                await caller.wait_frames(2)
                session = server.registry.get(caller.session_id)
                if how == "bye":
                    await caller.wait_channel_open()
                    caller.send({"type": "bye"})
                else:
                    status, body = await server.call("DELETE", f"/api/sessions/{caller.session_id}")
                    assert status == 200 and body["state"] == "closed"
                await server.wait_sessions(0)
                reasons.append(session.close_reason)
                told = [m for m in caller.messages if m.get("type") == "closed"]
                assert told == [], f"the server told the client its own goodbye: {told}"
                status, _ = await server.call("GET", f"/api/sessions/{caller.session_id}")
                assert status == 404
                await caller.close()
            assert server.registry.open_peer_connections == 0
        return reasons

    assert run(scenario()) == ["the client said goodbye", "closed by the client"]


def test_server_when_shut_down_then_every_peer_closed(model: str, no_thread_leaks: None) -> None:
    async def scenario() -> None:
        async with started_engine(model) as engine:
            callers = [Caller.sending(lambda i: checker(120, 160)) for _ in range(2)]
            async with running_server(engine) as server:
                for caller in callers:
                    await caller.connect(server)
                    await caller.wait_frames(2)
                registry = server.registry
                assert registry.open_peer_connections == 2
            # leaving the block ran the app's shutdown
            assert len(registry) == 0 and registry.open_peer_connections == 0
            assert [s for s in engine.stats()["streams"] if s.startswith("session-")] == []
            for caller in callers:
                for _ in range(200):  # the callers notice the hang-up (bounded wait)
                    if caller.pc.connectionState in ("closed", "failed"):
                        break
                    await asyncio.sleep(0.05)
                assert caller.pc.connectionState in ("closed", "failed")
                await caller.close()

    run(scenario())


def test_session_when_ice_never_connects_then_freed(model: str) -> None:
    async def scenario() -> tuple[str, float]:
        async with started_engine(model) as engine, running_server(engine, _settings(connect_timeout=2.0)) as server:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            track = PatternTrack(lambda i: checker(120, 160))
            pc.addTrack(track)
            # every candidate now points at a port where nobody answers
            sdp = re.sub(r"(a=candidate:\S+ \d \S+ \d+) \S+ \d+ typ", r"\1 127.0.0.1 9 typ",
                         await loopback_offer(pc))
            status, body = await server.call("POST", "/api/sessions", json={"type": "offer", "sdp": sdp})
            assert status == 201, body
            session = server.registry.get(body["session_id"])
            took = await server.wait_sessions(0, limit=30)
            assert server.registry.open_peer_connections == 0
            track.stop()
            await pc.close()
            return session.close_reason, took

    reason, took = run(scenario())
    print(f"\nfreed after {took:.1f} s: {reason}")
    assert reason in ("connection failed", "no video within 2 s")


@pytest.mark.slow
def test_session_when_peer_process_killed_then_freed_within_seconds(model: str) -> None:
    async def scenario() -> tuple[str, float]:
        settings = _settings(idle_timeout=2.0)
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            peer = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.server.peer_process", server.url, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            try:
                line = await asyncio.wait_for(peer.stdout.readline(), 60)
                assert line.startswith(b"SESSION "), line
                session = server.registry.get(line.split()[1].decode())
                assert session.stats.frames_in.count > 0
                peer.send_signal(signal.SIGKILL)  # no goodbye, no DTLS close: the tab just vanished
                killed = time.monotonic()
                await peer.wait()
                await server.wait_sessions(0, limit=30)
                took = time.monotonic() - killed
            finally:
                if peer.returncode is None:
                    peer.kill()
                    await peer.wait()
            assert server.registry.open_peer_connections == 0
            return session.close_reason, took

    reason, took = run(scenario())
    print(f"\nkilled peer's session freed after {took:.1f} s: {reason}")
    assert reason == "no video for 2 s"


@pytest.mark.slow
def test_sessions_when_20_connect_disconnect_cycles_then_nothing_leaks(model: str, no_thread_leaks: None) -> None:
    async def cycle(server, index: int) -> weakref.ref:  # noqa: ANN001
        caller = Caller.sending(lambda i: pattern_frame(i + index, 120, 160))
        await caller.connect(server)
        await caller.wait_frames(3)
        session_pc = weakref.ref(server.registry.get(caller.session_id).pc)
        await caller.close()
        await server.wait_sessions(0)
        return session_pc

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine) as server:
            for i in range(5):  # warm-up: codecs, interpreter shapes, executor threads
                await cycle(server, i)
            gc.collect()
            tasks_before = len(asyncio.all_tasks())
            threads_before = _threads()
            rss_before = _rss_bytes()
            pcs = [await cycle(server, i) for i in range(20)]
            await asyncio.sleep(0.5)  # let closed transports finish their last callbacks
            gc.collect()
            result = {
                "tasks": len(asyncio.all_tasks()) - tasks_before,
                "new_threads": _threads() - threads_before,
                "rss_growth": _rss_bytes() / rss_before - 1.0,
                "pcs_alive": sum(ref() is not None for ref in pcs),
                "open_pcs": server.registry.open_peer_connections,
                "closed": server.registry.closed_count,
                "lanes": [s for s in engine.stats()["streams"] if s.startswith("session-")],
            }
            return result

    result = run(scenario(), limit=280)
    print(f"\n20 cycles: {result}")
    assert result["closed"] == 25
    assert result["tasks"] <= 0, "tasks leaked"
    assert not result["new_threads"], "threads leaked"
    assert result["open_pcs"] == 0 and result["pcs_alive"] == 0, "peer connections leaked"
    assert result["lanes"] == [], "engine streams leaked"
    assert result["rss_growth"] < 0.05


Breakage = Callable[[str], tuple[Engine, Callable[[Engine, Caller], Awaitable[None]], str]]


async def _nothing(engine: Engine, caller: Caller) -> None:
    """The engine breaks by itself."""


async def _kill_inference_process(engine: Engine, caller: Caller) -> None:
    await caller.wait_frames(2)
    os.kill(engine.inference_pid or 0, signal.SIGKILL)


def _broken_transform(model: str) -> tuple[Engine, Callable[[Engine, Caller], Awaitable[None]], str]:
    """An engine whose transform raises after 6 inferences."""
    return failing_engine(model, good_calls=6), _nothing, "inference failed: InferenceBroke: interpreter invoke failed"


def _killed_process(model: str) -> tuple[Engine, Callable[[Engine, Caller], Awaitable[None]], str]:
    """An engine whose inference process is killed mid-call."""
    engine = Engine.create(model, BackendOptions(backend="cpu", threads=2), use_disk_cache=False,
                           inference_process=ProcessPriority.IDLE)
    return engine, _kill_inference_process, "inference failed: InferenceProcessDied: the inference process (pid "


@pytest.mark.parametrize("breakage", [_broken_transform, _killed_process], ids=["transform", "process"])
def test_sessions_when_inference_fails_are_closed_with_the_reason_and_new_ones_refused(
        model: str, breakage: Breakage) -> None:
    engine, break_it, expected = breakage(model)

    async def scenario() -> tuple[dict, str | None, int, dict]:
        async with engine:
            gallery = Gallery(engine.styles.builtins) if engine.styles.builtins else None
            async with running_server(engine, gallery=gallery) as server:
                # given a call whose frames are being stylized
                caller = Caller.sending()
                await caller.connect(server)
                await caller.wait_channel_open()
                session = server.registry.get(caller.session_id)
                # when inference fails: then the page is told why and the session is freed
                await break_it(engine, caller)
                closed = await caller.wait_message("closed", limit=30)
                await server.wait_sessions(0, limit=30)
                # and new calls are refused with the reason, not left waiting
                late = Caller.sending()
                late.pc.addTrack(late.track)
                status, body = await server.call("POST", "/api/sessions", json={
                    "type": "offer", "sdp": await loopback_offer(late.pc)})
                await caller.close()
                await late.close()
                return closed, session.close_reason, status, body

    closed, reason, status, body = run(scenario())
    assert reason is not None and reason.startswith(expected), reason
    assert closed["reason"] == reason
    assert status == 503 and "inference failed" in body["error"]


class _BrokenGallery(Gallery):
    """The real gallery, except that one style's lookup fails with an unexpected error (a bug)."""

    async def embedding(self, name: str) -> np.ndarray:
        if name == "explode":
            raise RuntimeError("gallery lookup broke")
        return await super().embedding(name)


def test_session_when_one_of_its_tasks_fails_is_closed_with_the_reason(model: str) -> None:
    async def scenario() -> tuple[str | None, dict]:
        async with started_engine(model) as engine, \
                running_server(engine, gallery=_BrokenGallery(engine.styles.builtins)) as server:
            caller = Caller.sending()
            await caller.connect(server, style=None)
            await caller.wait_channel_open()
            await caller.wait_frames(2)
            session = server.registry.get(caller.session_id)
            # when a style request makes the session's style task fail unexpectedly
            caller.send({"type": "style", "id": 1, "style": "explode"})
            closed = await caller.wait_message("closed", limit=30)
            await server.wait_sessions(0, limit=30)
            await caller.close()
            return session.close_reason, closed

    reason, closed = run(scenario())
    # then the failure is not only logged: the session ends, saying why
    assert reason == "internal error (style): gallery lookup broke"
    assert closed["reason"] == reason

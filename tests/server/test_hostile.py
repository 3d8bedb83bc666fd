"""Hostile clients: malformed, oversized, split, slow and never-finished requests get a status
(or a closed connection) and one log line each, never a traceback; the server keeps serving."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from streamer.config import ProcessingSize
from streamer.server import ServerSettings

from .harness import Caller, checker, png_bytes, run, running_server, started_engine
from .hostile import probes, send

TOKEN = "hostile-test-token"


def _noise_png() -> bytes:
    """A ~200 kB style image: more than one TCP segment, well under the limits."""
    rng = np.random.default_rng(7)
    return png_bytes(np.kron(rng.integers(0, 255, (150, 150, 3), np.uint8), np.ones((2, 2, 1), np.uint8)))


def _settings() -> ServerSettings:
    return ServerSettings(port=0, size=ProcessingSize(128), token=TOKEN, max_upload_bytes=2 * 1024 * 1024,
                          header_timeout=2.0, body_timeout=2.0)


def test_server_when_hostile_requests_then_status_each_and_no_traceback(
        model: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> list[tuple[str, object, object]]:
        settings = _settings()
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            caller = Caller.sending(lambda i: checker(120, 160))
            await caller.connect(server)
            port = int(server.url.rsplit(":", 1)[1])
            barrage = probes(f"127.0.0.1:{port}", TOKEN, f"/api/sessions/{caller.session_id}",
                             settings.max_upload_bytes, settings.header_timeout, settings.body_timeout,
                             _noise_png())
            outcomes = await asyncio.gather(*(send(port, probe) for probe in barrage))
            wrong = []
            for probe, outcome in zip(barrage, outcomes, strict=True):
                print(f"{probe.name}: {outcome.status} in {outcome.seconds:.2f} s {outcome.body[:100]!r}"
                      .replace("\0", ""))
                if outcome.status != probe.status or probe.words.encode() not in outcome.body:
                    wrong.append((probe.name, outcome.status, outcome.body[:200]))
                elif probe.close_within and outcome.seconds > probe.close_within:
                    wrong.append((probe.name, f"closed after {outcome.seconds:.1f} s", probe.close_within))
            await caller.wait_channel_open()
            for message in ("[" * 2000 + "]" * 2000, "not json", "x" * 5000):
                caller.send_text(message)
                reply = await caller.wait_message("error")
                assert "JSON" in reply["error"], reply
            status, info = await server.call("GET", "/api/info")  # still serving, session intact
            assert status == 200 and info["sessions"] == 1
            received = caller.received
            await caller.wait_frames(received + 3)
            await caller.close()
            return wrong

    wrong = run(scenario())
    tracebacks = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    refusals = [r.getMessage() for r in caplog.records
                if r.name in ("streamer.server.requests", "streamer.server.http") and r.levelno >= logging.INFO]
    print("\n".join(refusals))
    assert not wrong, wrong
    assert not tracebacks, tracebacks
    assert all("\n" not in line for line in refusals)
    assert len(refusals) >= 18, "every refused request is logged"

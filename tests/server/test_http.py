"""The HTTP API against bad and hostile input: clear JSON errors, never a crash, no file access."""

from __future__ import annotations

import io

import numpy as np
import pytest

from streamer.config import ProcessingSize
from streamer.server import ServerSettings

from .harness import Caller, checker, loopback_offer, png_bytes, run, running_server, started_engine

JSON = {"Content-Type": "application/json"}
GOOD_OFFER_START = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def _bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG file whose header declares width x height pixels (zlib makes it small)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    row = b"\x00" + b"\x00" * width
    body = zlib.compress(row * 64, 9)  # far fewer rows than declared: still refused by the header
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_api_when_bad_input_then_clear_errors(model: str) -> None:
    async def scenario() -> None:
        async with started_engine(model) as engine, running_server(engine) as server:
            cases = [
                ("POST", "/api/sessions", {"data": b"{not json", "headers": JSON}, 400, "not valid JSON"),
                ("POST", "/api/sessions", {"data": b'{"sdp": "v=0"}', "headers": {"Content-Type": "text/plain"}},
                 415, "application/json"),
                ("GET", "/api/info", {"headers": {"Host": "attacker.example:8080"}}, 403, "127.0.0.1"),
                ("GET", "/", {"headers": {"Host": "attacker.example"}}, 403, "localhost"),
                ("POST", "/api/sessions", {"json": ["an", "array"]}, 400, "JSON object"),
                ("POST", "/api/sessions", {"json": {"type": "offer"}}, 400, "sdp"),
                ("POST", "/api/sessions", {"json": {"type": "answer", "sdp": "v=0"}}, 400, "offer"),
                ("POST", "/api/sessions", {"json": {"sdp": "hello world"}}, 400, "v=0"),
                ("POST", "/api/sessions", {"json": {"sdp": GOOD_OFFER_START + "m=garbage\r\n"}}, 400, "SDP"),
                ("POST", "/api/sessions", {"json": {"sdp": "v=0\r\n" + "a=x\r\n" * 20000}}, 413, "over"),
                ("POST", "/api/sessions", {"data": b"x" * 100_000, "headers": JSON}, 413, "limit"),
                ("GET", "/api/sessions/AAAAAAAAAAAAAAAAAAAAAA", {}, 404, "no session"),
                ("DELETE", "/api/sessions/AAAAAAAAAAAAAAAAAAAAAA", {}, 404, "no session"),
                ("POST", "/api/sessions/AAAAAAAAAAAAAAAAAAAAAA/style", {"json": {"style": "x"}}, 404, "no session"),
                ("GET", "/api/sessions/..%2F..%2Fetc%2Fpasswd", {}, 404, None),
                ("GET", "/api/styles/nope/preview.jpg", {}, 404, "no such style"),
                ("GET", "/static/..%2Fapp.py", {}, 404, None),
                ("GET", "/static/../../pyproject.toml", {}, 404, None),
                ("GET", "/static/app.py", {}, 404, None),
                ("GET", "/nothing-here", {}, 404, None),
            ]
            for method, path, kwargs, status, words in cases:
                got, body = await server.call(method, path, **kwargs)
                assert got == status, (method, path, got, body)
                assert isinstance(body, dict) and "error" in body, (path, body)
                if words:
                    assert words.lower() in body["error"].lower(), (path, body)
            assert len(server.registry) == 0 and server.registry.open_peer_connections == 0
            # the server still works after all that
            status, info = await server.call("GET", "/api/info")
            assert status == 200 and len(info["styles"]) == 2

    run(scenario())


def test_api_when_offer_has_no_video_then_400(model: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection

    async def scenario() -> None:
        async with started_engine(model) as engine, running_server(engine) as server:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.createDataChannel("control")
            offer = {"type": "offer", "sdp": await loopback_offer(pc)}
            status, body = await server.call("POST", "/api/sessions", json=offer)
            await pc.close()
            assert status == 400 and "no video" in body["error"]
            assert server.registry.open_peer_connections == 0

    run(scenario())


def test_api_when_offer_incomplete_then_400_with_reason_and_no_session(model: str) -> None:
    import re

    from aiortc import RTCConfiguration, RTCPeerConnection

    from .harness import PatternTrack

    def without(pattern: str, sdp: str) -> str:
        return "".join(line for line in sdp.splitlines(keepends=True) if not re.match(pattern, line))

    async def scenario() -> None:
        async with started_engine(model) as engine, running_server(engine) as server:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTrack(PatternTrack(lambda i: checker(120, 160)))
            pc.createDataChannel("control")
            good = await loopback_offer(pc)
            await pc.close()
            cases = [
                (without(r"a=fingerprint:", good), "a=fingerprint"),  # was 201, then an AssertionError in aiortc
                (re.sub(r"a=fingerprint:\S+", "a=fingerprint:md5", good), "not supported"),
                (without(r"a=candidate:", good), "no ICE candidates"),
                (without(r"a=ice-pwd:", good), "a=ice-pwd"),
                (good.replace("a=sendrecv", "a=recvonly"), "sends no video"),
                (GOOD_OFFER_START + "m=video x RTP/AVP 96\r\n", "cannot parse"),
                (GOOD_OFFER_START + "a=fingerprint:sha-256\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "cannot parse"),
                (GOOD_OFFER_START, "no media section"),
            ]
            for sdp, words in cases:
                status, body = await server.call("POST", "/api/sessions", json={"type": "offer", "sdp": sdp})
                assert status == 400 and words in body["error"], (words, status, body)
            assert len(server.registry) == 0 and server.registry.open_peer_connections == 0

    run(scenario())


def test_api_when_unknown_style_in_offer_then_400_and_no_session(model: str) -> None:
    async def scenario() -> None:
        async with started_engine(model) as engine, running_server(engine) as server:
            caller = Caller.sending(lambda i: checker(120, 160))
            with pytest.raises(AssertionError, match="unknown style"):
                await caller.connect(server, style="no-such-style")
            await caller.close()
            assert len(server.registry) == 0 and server.registry.open_peer_connections == 0

    run(scenario())


def test_api_when_style_fields_are_bad_then_400_names_the_field_without_cli_words(model: str) -> None:
    async def scenario() -> list[tuple[int, str]]:
        async with started_engine(model) as engine, running_server(engine) as server:
            caller = Caller.sending(lambda i: checker(120, 160))
            await caller.connect(server)
            answers = []
            for fields in ({"strength": 1.5}, {"mix": "half"}, {"style2": 3}, {"speed": 2}):
                status, body = await server.call("POST", f"/api/sessions/{caller.session_id}/style", json=fields)
                answers.append((status, body["error"]))
            await caller.close()
            return answers

    answers = run(scenario())
    assert answers == [(400, "strength must be between 0 and 1, got 1.5"),
                       (400, "mix must be a number between 0 and 1"),
                       (400, "style2 must be a style name"),
                       (400, "unknown field(s): speed")]


def test_api_when_too_many_sessions_then_503(model: str) -> None:
    async def scenario() -> None:
        settings = ServerSettings(port=0, size=ProcessingSize(128), max_sessions=2)
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            callers = [Caller.sending(lambda i: checker(120, 160)) for _ in range(3)]
            await callers[0].connect(server)
            await callers[1].connect(server)
            await callers[0].wait_frames(1)
            with pytest.raises(AssertionError, match="full"):
                await callers[2].connect(server)
            status, body = await server.call("POST", "/api/sessions",
                                             json={"sdp": callers[2].pc.localDescription.sdp})
            assert status == 503 and "2 sessions" in body["error"]
            await callers[0].close()
            await server.wait_sessions(1)
            # a slot is free again
            late = Caller.sending(lambda i: checker(120, 160))
            await late.connect(server)
            for caller in [callers[1], callers[2], late]:
                await caller.close()

    run(scenario())


def test_upload_when_bad_images_then_refused_and_session_lives(model: str) -> None:
    async def scenario() -> None:
        settings = ServerSettings(port=0, size=ProcessingSize(128), max_upload_bytes=200_000,
                                  max_upload_pixels=1_000_000)
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            caller = Caller.sending(lambda i: checker(120, 160))
            await caller.connect(server)
            path = f"/api/sessions/{caller.session_id}/styles"
            noise = np.random.default_rng(1).integers(0, 255, (400, 400, 3), np.uint8)
            cases = [
                (b"", 400, "bytes"),
                (b"this is not an image", 400, "not an image"),
                (png_bytes(noise), 413, "limit"),  # ~480 kB of noise: over the byte cap
                (_bomb_png(), 413, "megapixels"),  # 400 megapixels declared in a few kB
                (_bomb_png(5000, 5000), 413, "megapixels"),  # under Pillow's own bomb limit
                (png_bytes(checker(1200, 1000)), 413, "megapixels"),
                (png_bytes(checker())[:300], 400, "truncated"),
            ]
            for data, status, words in cases:
                got, body = await server.call("POST", path, data=data)
                assert got == status, (words, got, body)
                assert words in body["error"], body
            text = {"Content-Type": "text/plain"}
            got, body = await server.call("POST", path, data=png_bytes(checker()), headers=text)
            assert got == 415 and "image/*" in body["error"]
            status, body = await server.call("GET", f"/api/sessions/{caller.session_id}")
            assert status == 200 and body["uploads"] == []
            await caller.close()

    run(scenario())


def test_api_when_token_set_then_required(model: str) -> None:
    async def scenario() -> None:
        settings = ServerSettings(port=0, size=ProcessingSize(128), token="correct-horse-battery")
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            for headers in ({}, {"Authorization": "Bearer wrong-token-here"}, {"Authorization": "Basic abc"}):
                async with server.http.get(server.url + "/api/info", headers=headers) as response:
                    assert response.status == 401
                    assert "token" in (await response.json())["error"]
            status, _ = await server.call("GET", "/api/info")  # the harness sends the right one
            assert status == 200
            async with server.http.get(server.url + "/") as response:  # the page itself is public
                assert response.status == 200

    run(scenario())


def test_page_when_served_then_local_assets_and_strict_headers(model: str) -> None:
    async def scenario() -> None:
        async with started_engine(model) as engine, running_server(engine) as server:
            for path, kind in (("/", "text/html"), ("/static/app.js", "text/javascript"),
                               ("/static/style.css", "text/css")):
                async with server.http.get(server.url + path) as response:
                    assert response.status == 200 and response.content_type == kind
                    text = await response.text()
                    assert "http://" not in text and "https://" not in text, f"{path} loads something remote"
                    csp = response.headers["Content-Security-Policy"]
                    assert "default-src 'self'" in csp
                    assert response.headers["X-Content-Type-Options"] == "nosniff"
            status, jpeg = await server.call("GET", f"/api/styles/{server.style_names[0]}/preview.jpg")
            assert status == 200 and jpeg[:2] == b"\xff\xd8"
            from PIL import Image

            assert Image.open(io.BytesIO(jpeg)).size == (128, 128)

    run(scenario())

"""Hostile and malformed HTTP requests, sent raw over TCP (the barrage of issue 11).

Used by the tests and by ``benchmarks/serve_soak.py``. Each :class:`Probe` is a request as bytes
(optionally in pieces, with pauses) and what the server must do: answer with a status, or close
the connection within a time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Outcome", "Probe", "probes", "send"]


@dataclass(frozen=True)
class Probe:
    """One raw request.

    :param name: what it tries.
    :param pieces: the bytes, sent one piece after the other, ``pause`` seconds apart.
    :param status: the status the server must answer with (``None``: it must close the
        connection without a response, within ``close_within`` seconds).
    :param words: text the JSON error must contain.
    """

    name: str
    pieces: Sequence[bytes]
    status: int | None
    words: str = ""
    pause: float = 0.0
    close_within: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What the server did with a :class:`Probe`."""

    status: int | None  #: None: closed without a response
    body: bytes
    seconds: float


def _request(method: str, path: str, host: str, headers: dict[str, str] | None = None,
             body: bytes = b"", token: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _chunked(data: bytes, size: int = 65536) -> bytes:
    out = bytearray()
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def _split(data: bytes, tail: int) -> list[bytes]:
    return [data[:-tail], data[-tail:]]


def probes(host: str, token: str | None, session_path: str, upload_limit: int, header_timeout: float,
           body_timeout: float, image: bytes) -> list[Probe]:
    """The barrage, for a server answering at ``host`` (the Host header value).

    :param session_path: ``/api/sessions/<id>`` of a live session (for uploads).
    :param upload_limit: the server's ``max_upload_bytes``.
    :param image: a style image under the limits (sent in two pieces: it must be accepted).
    """
    json_headers = {"Content-Type": "application/json"}
    image_headers = {"Content-Type": "application/octet-stream"}
    deep = b"[" * 30_000 + b"]" * 30_000
    too_big = b"\0" * (upload_limit + 1024 * 1024)

    def req(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
        return _request(method, path, host, headers, body, token)

    return [
        Probe("malformed request line", [b"GET\r\n\r\n"], 400),
        Probe("not HTTP at all", [b"HELLO WORLD this is not http\r\n\r\n"], 400),
        Probe("TLS handshake on the plain port", [bytes.fromhex("160301020001") + b"\x01" * 512], 400),
        Probe("unknown HTTP version", [b"GET / HTTP/9.9\r\nHost: " + host.encode() + b"\r\n\r\n"], 400),
        Probe("duplicate Host headers",
              [b"GET /api/info HTTP/1.1\r\nHost: " + host.encode() + b"\r\nHost: evil.example\r\n\r\n"], 400),
        Probe("header line over 8 KiB", [req("GET", "/api/info", {"X-Long": "a" * 20_000})], 400),
        Probe("too many headers", [req("GET", "/api/info", {f"X-H{i}": "1" for i in range(300)})], 400),
        Probe("Content-Length not a number", [req("POST", "/api/sessions", {**json_headers,
                                                                             "Content-Length": "ten"}, b"{}")], 400),
        Probe("Content-Length and Transfer-Encoding (smuggling)",
              [req("POST", "/api/sessions", {**json_headers, "Content-Length": "5",
                                             "Transfer-Encoding": "chunked"}, b"0\r\n\r\n")], 400),
        Probe("bad chunk size", [req("POST", "/api/sessions", {**json_headers, "Transfer-Encoding": "chunked"},
                                     b"zz\r\n{}\r\n0\r\n\r\n")], 400),
        Probe("NUL in the path", [req("GET", "/api/sessions/%00%00")], 404),
        Probe("JSON nested 30,000 deep", [req("POST", "/api/sessions", json_headers, deep)], 400, "nested"),
        Probe("JSON with a 60,000-digit number",
              [req("POST", "/api/sessions", json_headers, b'{"mix": ' + b"9" * 60_000 + b"}")], 400, "JSON"),
        Probe("JSON that is not UTF-8", [req("POST", "/api/sessions", json_headers, b'{"sdp": "\xff\xfe"}')],
              400, "JSON"),
        Probe("SDP garbage", [req("POST", "/api/sessions", json_headers,
                                  json.dumps({"sdp": "v=0\r\nm=\x00\x01\r\n"}).encode())], 400, "SDP"),
        Probe("chunked upload over the limit", [req("POST", session_path + "/styles?apply=0",
                                                    {**image_headers, "Transfer-Encoding": "chunked"},
                                                    _chunked(too_big))], 413, "limit"),
        Probe("Content-Length over the limit, body never sent",
              [req("POST", session_path + "/styles", {**image_headers, "Content-Length": str(len(too_big))})],
              413, "limit"),
        Probe("JSON body in two TCP segments", _split(req("POST", "/api/sessions", json_headers,
                                                          b'{"type": "offer", "style": "x"}'), 12),
              400, "sdp", pause=0.2),
        Probe("chunked JSON body", [req("POST", "/api/sessions", {**json_headers, "Transfer-Encoding": "chunked"},
                                        _chunked(b'{"type": "offer", "style": "x"}', 7))], 400, "sdp"),
        Probe("style image in two TCP segments",
              _split(req("POST", session_path + "/styles?apply=0", image_headers, image), len(image) // 2),
              201, "upload-", pause=0.2),
        Probe("headers that never finish", [b"GET /api/info HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-A: 1\r\n"],
              None, close_within=header_timeout + 3.0),
        Probe("body that never arrives", [req("POST", "/api/sessions", {**json_headers, "Content-Length": "5000"},
                                              b"{")], 408, "arrive", close_within=body_timeout + 3.0),
        Probe("WebSocket upgrade on an API route",
              [req("GET", "/api/info", {"Upgrade": "websocket", "Connection": "Upgrade",
                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                        "Sec-WebSocket-Version": "13"})], 200),
    ]


async def send(port: int, probe: Probe, limit: float = 30.0) -> Outcome:
    """Send ``probe`` to 127.0.0.1:``port``; the status line and body of the answer, if any."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i, piece in enumerate(probe.pieces):
            if i and probe.pause:
                await asyncio.sleep(probe.pause)
            writer.write(piece)
            try:
                await writer.drain()
            except ConnectionError:
                break
        try:
            return await asyncio.wait_for(_response(reader, started), limit)
        except ConnectionError:
            return Outcome(None, b"", time.monotonic() - started)
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader, started: float) -> Outcome:
    """The response's status and body (read by its Content-Length: the server may linger
    before closing), or ``None`` and what came when the connection closed without one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        return Outcome(None, exc.partial, time.monotonic() - started)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Outcome(int(lines[0].split(" ", 2)[1]), body, time.monotonic() - started)

"""JSON in and out of the HTTP API: complete, bounded body reads, and errors as ``{"error": message}``.

A body is read to its end whatever its framing (``Content-Length``, chunked, split across TCP
segments), with the limit enforced on the total (413) and a read timeout (408) between pieces;
JSON is refused when it is nested deeper than :data:`MAX_JSON_DEPTH`. Every refused request is
logged as one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

__all__ = ["BODY_TIMEOUT", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "ApiError", "error_middleware",
           "json_response", "one_line", "read_body", "read_json"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: largest JSON body accepted (an SDP offer is a few kilobytes)
MAX_JSON_BYTES = 64 * 1024
#: deepest JSON nesting accepted (the API's bodies are flat objects)
MAX_JSON_DEPTH = 8
#: longest a whole body may take to arrive, however steadily it trickles in
MAX_BODY_SECONDS = 120.0
#: seconds without a byte of a request body before the request is refused (408); set per app
BODY_TIMEOUT: web.AppKey[float] = web.AppKey("streamer_body_timeout", float)


class ApiError(Exception):
    """An error the client caused (or a limit it hit), answered as JSON with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response that is never cached."""
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


async def read_body(request: web.Request, limit: int, what: str = "request body") -> bytes:
    """The whole body, refused with 413 once it is over ``limit`` bytes (``Content-Length`` is
    checked first but not trusted), and with 408 when it stalls (see :data:`BODY_TIMEOUT`)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"{what} is {request.content_length} bytes, over the limit of {limit}")
    gap = request.app.get(BODY_TIMEOUT, 10.0)
    deadline = time.monotonic() + MAX_BODY_SECONDS
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            async with asyncio.timeout(min(gap, max(deadline - time.monotonic(), 0.0))):
                chunk = await request.content.readany()
        except TimeoutError:
            raise ApiError(408, f"{what} did not arrive: nothing for {gap:g} s (or over "
                                f"{MAX_BODY_SECONDS:g} s in all)") from None
        except (HttpProcessingError, RequestPayloadError) as exc:
            raise ApiError(400, f"{what} is malformed: {_reason(exc)}") from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"{what} is over the limit of {limit} bytes")
        chunks.append(chunk)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` fit for one log line: its first line, control characters escaped, shortened."""
    first = text.splitlines()[0] if text else ""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in first[:limit])


def _reason(exc: BaseException) -> str:
    return one_line(str(getattr(exc, "message", None) or exc or type(exc).__name__))


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


async def read_json(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body as a JSON object (400 if it is not one, or is nested too deeply).

    ``Content-Type: application/json`` is required: other sites can only send it after a CORS
    preflight, which this server never grants, so a page elsewhere cannot drive the API.
    """
    if request.content_type != "application/json":
        raise ApiError(415, f"send JSON with Content-Type: application/json (got {request.content_type!r})")
    data = await read_body(request, limit, "JSON body")
    try:
        value = json.loads(data)
    except RecursionError:
        raise ApiError(400, f"body is JSON nested too deeply (the limit is {MAX_JSON_DEPTH} levels)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"body is not valid JSON: {_reason(exc)}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ApiError(400, f"body is JSON nested too deeply (the limit is {MAX_JSON_DEPTH} levels)")
    return value


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer API errors, unknown routes and unexpected failures as JSON, never a traceback;
    each refused request is logged as one line."""
    try:
        return await handler(request)
    except ApiError as exc:
        status, message = exc.status, exc.message
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        status, message = exc.status, exc.reason
    except Exception:
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return json_response({"error": "internal server error"}, 500)
    logger.info("refused %s %s from %s: %d %s", request.method, one_line(request.raw_path), request.remote,
                status, one_line(message))
    return json_response({"error": message}, status)

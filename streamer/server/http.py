"""JSON in and out of the HTTP API: bounded body reads, and errors as ``{"error": message}``."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["ApiError", "error_middleware", "json_response", "read_body", "read_json"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: largest JSON body accepted (an SDP offer is a few kilobytes)
MAX_JSON_BYTES = 64 * 1024


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
    """Read at most ``limit`` bytes of the body (413 beyond that), without trusting Content-Length."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"{what} is {request.content_length} bytes, over the limit of {limit}")
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"{what} is over the limit of {limit} bytes")
    return data


async def read_json(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body as a JSON object (400 if it is not one).

    ``Content-Type: application/json`` is required: other sites can only send it after a CORS
    preflight, which this server never grants, so a page elsewhere cannot drive the API.
    """
    if request.content_type != "application/json":
        raise ApiError(415, f"send JSON with Content-Type: application/json (got {request.content_type!r})")
    data = await read_body(request, limit, "JSON body")
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer API errors, unknown routes and unexpected failures as JSON, never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response({"error": exc.message}, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_response({"error": exc.reason}, exc.status)
    except Exception:
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return json_response({"error": "internal server error"}, 500)

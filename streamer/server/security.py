"""Who may call the API, what the browser may load, and what an upload may be.

* A token (when set) guards every ``/api/`` route: ``Authorization: Bearer TOKEN``. The page
  and its assets are public; they hold no secret and read the token from the URL fragment
  (``/#token=...``), which browsers never send to the server or in a referrer.
* Every response carries a strict Content-Security-Policy (everything from this origin only).
* Uploaded style images are checked for size in bytes (while reading) and in pixels (from the
  image header, before any pixel is decoded), so decompression bombs are refused cheaply.
"""

from __future__ import annotations

import hmac
import io
import re
import warnings

from aiohttp import web
from aiohttp.typedefs import Middleware

from .http import ApiError, Handler

__all__ = [
    "SESSION_ID_PATTERN",
    "check_image_pixels",
    "headers_middleware",
    "local_host_middleware",
    "token_middleware",
    "valid_session_id",
]

#: session ids are ``secrets.token_urlsafe(16)``; anything else is not looked up at all
SESSION_ID_PATTERN = r"[A-Za-z0-9_-]{16,64}"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)

_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")


def valid_session_id(text: str) -> bool:
    """True if ``text`` looks like a session id we could have issued."""
    return _SESSION_ID.fullmatch(text) is not None


#: the routes a token guards: the JSON API, WHIP ingest and WHEP playback
GUARDED_PREFIXES = ("/api/", "/whip/", "/whep/")


def token_middleware(token: str | None) -> Middleware:
    """Refuse API, WHIP and WHEP calls without the right bearer token (401); no-op if ``token``
    is None."""

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None and request.path.startswith(GUARDED_PREFIXES):
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
                if request.path.startswith("/api/"):
                    raise ApiError(401, "missing or wrong token: open the URL the server printed "
                                        "(it ends in #token=...)")
                raise ApiError(401, "missing or wrong token: send it as Authorization: Bearer TOKEN "
                                    "(the bearer token setting of your WHIP/WHEP client)")
        return await handler(request)

    return check_token


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def local_host_middleware(enabled: bool) -> Middleware:
    """With a loopback bind, refuse (403) requests whose ``Host`` is not this machine's name.

    A web page can point its own host name at 127.0.0.1 (DNS rebinding) and then call the API
    as if it were same-origin; the Host header still carries that foreign name.
    """

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if enabled:
            host = request.headers.get("Host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.lower() not in _LOCAL_HOSTS:
                raise ApiError(403, f"this server only answers requests for 127.0.0.1 or localhost, not {host!r}")
        return await handler(request)

    return check_host


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the security headers to every response."""
    response = await handler(request)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def check_image_pixels(data: bytes, max_pixels: int) -> None:
    """Refuse (413) an image whose header declares more than ``max_pixels`` pixels.

    Only the header is parsed; data that is not an image passes through to the decoder, which
    reports it with a clear message.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise ApiError(413, f"style image declares hundreds of megapixels (a decompression bomb); "
                            f"the limit is {max_pixels / 1e6:.1f} megapixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return
    if width * height > max_pixels:
        raise ApiError(413, f"style image is {width}x{height} = {width * height / 1e6:.1f} megapixels, "
                            f"over the limit of {max_pixels / 1e6:.1f} megapixels")

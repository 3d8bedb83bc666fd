"""Listening: the aiohttp runner with the server's connection limits, and its TCP (or TLS) site.

.. code-block:: python

    runner = create_runner(app, settings)
    await runner.setup()
    port = await listen(runner, settings.host, settings.port, tls_context)
    ...
    await runner.cleanup()

A connection must complete each request's headers within ``settings.header_timeout`` seconds
of connecting (or of its previous response), else it is closed: aiohttp's keep-alive timer is
started when a connection opens and is not reset by partial data. Requests aiohttp itself
refuses (a malformed request line, duplicate ``Host`` headers, an oversized header...) are
answered 400/431 by aiohttp and logged here as one line, without aiohttp's traceback.
"""

from __future__ import annotations

import logging
import ssl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .http import one_line
from .settings import ServerSettings

__all__ = ["REQUEST_LOG", "create_runner", "listen"]

#: where aiohttp's connection handler logs (bad requests, one line each)
REQUEST_LOG = logging.getLogger("streamer.server.requests")

#: seconds an unread request body is drained after the response before the connection closes
LINGER_SECONDS = 2.0


class _OneLineBadRequests(logging.Filter):
    """Turn aiohttp's "Error handling request" tracebacks for malformed requests into one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            reason = one_line(str(exc.message or exc))
            record.msg, record.args = "bad request from %s: %d %s", (peer, exc.code, reason)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


if not any(isinstance(f, _OneLineBadRequests) for f in REQUEST_LOG.filters):
    REQUEST_LOG.addFilter(_OneLineBadRequests())


def create_runner(app: web.Application, settings: ServerSettings) -> web.AppRunner:
    """An :class:`aiohttp.web.AppRunner` for ``app`` with the header timeout and request logging."""
    return web.AppRunner(
        app, handle_signals=False, access_log=None,
        keepalive_timeout=settings.header_timeout,
        lingering_time=LINGER_SECONDS,
        logger=REQUEST_LOG,
    )


async def listen(runner: web.AppRunner, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
    """Start listening on ``host``:``port`` (0: any free port); returns the port.

    :raises OSError: the address cannot be bound.
    """
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    return int(runner.addresses[-1][1]) if runner.addresses else port

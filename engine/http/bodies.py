"""Reading request bodies: within a deadline, and with a client's own failures answered as such.

`body_middleware` reads every request body before the handler runs (the handler's `read()`,
`post()` and `json()` then return the body already read), so that:

- a body that does not arrive within constants.BODY_READ_TIMEOUT_SECONDS is refused with 408;
- a client that drops mid-upload is logged at debug, without a traceback, and answered 400
  (nobody is there to read it) — it is the client's failure, not a server error;
- a body that does not decode as its `Content-Encoding` says (gzip that is not gzip) is a 400;
- a body over the app's `client_max_size` is a 413.

Headers have their own deadline: the server's keep-alive timer (engine.web.app.SERVER_OPTIONS).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import http_exceptions, web, web_protocol

from engine import constants
from engine.http import responses

log = logging.getLogger(__name__)

#: What reading a body raises when the client went away before sending all of it.
CLIENT_GONE = (ConnectionResetError, aiohttp.ClientConnectionResetError, aiohttp.ClientPayloadError, http_exceptions.ContentLengthError)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _has_body(request: web.Request) -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def body_middleware(max_bytes: int) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Read each request's body (if it has one, of at most `max_bytes`, the app's `client_max_size`)
    within constants.BODY_READ_TIMEOUT_SECONDS before the handler runs."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _has_body(request):
            await read_body(request, max_bytes, constants.BODY_READ_TIMEOUT_SECONDS)
        return await handler(request)

    return middleware


def _refuse(request: web.Request, status: int, code: str, message: str) -> web.HTTPException:
    """An error for a body that will not be read to its end: the server is told the body is over
    (so it does not go on reading, or re-raise the parser's error, after the answer) and the
    connection closes after the answer (the rest of the body must not be read as a next request)."""
    request.content.feed_eof()
    error = responses.error(status, code, message)
    error.force_close()
    return error


async def read_body(request: web.Request, max_bytes: int, seconds: float) -> bytes:
    """The request's body, read within `seconds`; the client's failures as 4xx JSON errors."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _refuse(request, 413, "payload_too_large", f"the body exceeds the limit of {max_bytes} bytes")
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        log.debug("request body not received within %s s on %s %s from %s", seconds, request.method, request.path, request.remote)
        raise _refuse(request, 408, "request_timeout", f"the body did not arrive within {seconds:g} seconds") from None
    except web.HTTPRequestEntityTooLarge:
        raise _refuse(request, 413, "payload_too_large", f"the body exceeds the limit of {max_bytes} bytes") from None
    except (http_exceptions.ContentEncodingError, web_protocol.RequestPayloadError) as exc:
        # The parser reports a body it cannot decode (or a broken chunked framing) as the cause.
        cause = exc if isinstance(exc, http_exceptions.ContentEncodingError) else exc.__cause__
        if isinstance(cause, http_exceptions.ContentEncodingError):
            raise _refuse(request, 400, "invalid_encoding", "the body is not what its Content-Encoding says it is") from None
        if isinstance(cause, CLIENT_GONE) or request.transport is None or request.transport.is_closing():
            log.debug("client went away mid-body on %s %s from %s: %s", request.method, request.path, request.remote, exc)
            raise _refuse(request, 400, "incomplete_body", "the connection ended before the whole body arrived") from None
        log.debug("malformed body on %s %s from %s: %s", request.method, request.path, request.remote, exc)
        raise _refuse(request, 400, "invalid_body", "the body could not be read as sent") from None
    except CLIENT_GONE as exc:
        log.debug("client went away mid-body on %s %s from %s: %s", request.method, request.path, request.remote, exc)
        raise _refuse(request, 400, "incomplete_body", "the connection ended before the whole body arrived") from None

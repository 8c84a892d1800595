"""JSON responses and errors, one shape everywhere: {"error": code, "message": text, ...}."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


def dumps(value: Any) -> str:
    """JSON with Chinese kept readable."""
    return json.dumps(value, ensure_ascii=False, default=str)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


class JsonError(web.HTTPError):
    """An HTTP error whose body is the JSON error document."""

    def __init__(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status  # aiohttp reads the status from here
        super().__init__(text=body, content_type="application/json", headers=headers)


def error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> web.HTTPException:
    """An HTTP error carrying the JSON error body (and `headers`, e.g. Allow); raise it from a handler."""
    return JsonError(status, dumps({"error": code, "message": message, **extra}), headers)


#: Headers every response gets unless it has its own (the console sets fuller ones): no page of this
#: service may be framed by another site (clickjacking, e.g. of the unsubscribe page), no script may
#: run in one, and no content type is guessed.
BASELINE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}

#: Headers of an aiohttp error that the JSON error keeps (405's list of allowed methods).
_KEPT_HEADERS = ("Allow",)


async def add_baseline_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: BASELINE_HEADERS on every response that lacks them."""
    for name, value in BASELINE_HEADERS.items():
        response.headers.setdefault(name, value)


_GENERIC = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def json_errors_middleware() -> Callable[
    [web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable[web.StreamResponse]
]:
    """Turn aiohttp's plain-text errors and unexpected exceptions into JSON error bodies."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.content_type == "application/json" or exc.status < 400:
                raise
            code = _GENERIC.get(exc.status, "http_error")
            kept = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
            raise error(exc.status, code, exc.reason, headers=kept or None) from None
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            raise error(500, "internal_error", "the server failed to handle this request; it was logged") from None

    return middleware

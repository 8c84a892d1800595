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

    def __init__(self, status: int, body: str) -> None:
        self.status_code = status  # aiohttp reads the status from here
        super().__init__(text=body, content_type="application/json")


def error(status: int, code: str, message: str, **extra: Any) -> web.HTTPException:
    """An HTTP error carrying the JSON error body; raise it from a handler."""
    return JsonError(status, dumps({"error": code, "message": message, **extra}))


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
            raise error(exc.status, code, exc.reason) from None
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            raise error(500, "internal_error", "the server failed to handle this request; it was logged") from None

    return middleware

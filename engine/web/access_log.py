"""The access log `serve` writes, without the keys some URLs carry.

A link to a firm's page (`/my/{token}`, and the short `/m/{token}` an SMS carries) is the key to it, and an unsubscribe link (`/unsubscribe/{token}`)
acts for the firm: written in full to a log, anyone who reads the log could use them. The access log
keeps the route and replaces the token with `…`.
"""

from __future__ import annotations

import re

from aiohttp import abc, web

_KEYED = re.compile(r"^/(my|m|unsubscribe)/[^/?#]+")
#: The fields aiohttp's default format shows, the path redacted.
FORMAT = '%s "%s %s HTTP/%d.%d" %d %s %.6fs'


def redact(path: str) -> str:
    """`/my/<token>/items/x/confirm` → `/my/…/items/x/confirm`; other paths unchanged."""
    return _KEYED.sub(lambda found: f"/{found.group(1)}/…", path)


class AccessLogger(abc.AbstractAccessLogger):
    """One line per request, as aiohttp writes it, with link tokens redacted (see the module docstring)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            FORMAT, request.remote, request.method, redact(request.path_qs), request.version.major, request.version.minor,
            response.status, response.body_length, time,
        )

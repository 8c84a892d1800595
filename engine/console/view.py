"""What the console's page handlers share: rendering with the labels, links that keep filters,
the catalogue, and the actor string for storage calls."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from engine.console import keys, labels, security


def catalogue(request: web.Request) -> Any:
    """The rules catalogue of the running matcher, or None (a matcher without one, e.g. in tests)."""
    return getattr(request.app[keys.MATCHER], "catalogue", None)


def link(path: str, params: Mapping[str, Any], **changes: Any) -> str:
    """`path` with the query `params` updated by `changes` (None or "" removes a parameter)."""
    merged = {**params, **changes}
    query = urllib.parse.urlencode({k: v for k, v in merged.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def actor(request: web.Request) -> str:
    """The operator as storage and the audit trail name them: "<username> (<role>)"."""
    return security.actor(security.current_operator(request))


def fmt(value: Any) -> str:
    """A fact or condition value for display: 是/否 for booleans, JSON for structures, — for nothing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def money(value: Any) -> str:
    """An amount in yuan with thousands separators and two decimals; — when there is none."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)):,.2f}"


def render(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """Render a console page; every template gets the label tables as `L`, `link`, `fmt` and `money`."""
    return aiohttp_jinja2.render_template(template, request, {"L": labels, "link": link, "fmt": fmt, "money": money, **context}, status=status)


def not_found(message: str) -> web.HTTPNotFound:
    """A 404 whose text the console's error page shows."""
    return web.HTTPNotFound(text=message)

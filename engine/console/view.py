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

from engine.console import explain, keys, labels, security
from engine.console.read_model import READ_MODEL
from engine.core.scopes import Scope


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


#: Numbers from this size up are written with thousands separators (150,000); smaller ones — years,
#: months, rates, counts — are written as they are (2022, not 2,022).
GROUPED_FROM = 10_000


def fmt(value: Any) -> str:
    """A fact or condition value for display: 是/否 for booleans, JSON for structures, — for nothing,
    large numbers with thousands separators."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, Decimal)) and abs(value) >= GROUPED_FROM:
        return f"{value:,}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def money(value: Any) -> str:
    """An amount in yuan with thousands separators and two decimals; — when there is none."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)):,.2f}"


def render(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """Render a console page; every template gets the label tables as `L`, the explanation in words
    (engine.console.explain) as `E`, `link`, `fmt` and `money`."""
    return aiohttp_jinja2.render_template(
        template, request, {"L": labels, "E": explain, "link": link, "fmt": fmt, "money": money, **context}, status=status)


def not_found(message: str) -> web.HTTPNotFound:
    """A 404 whose text the console's error page shows."""
    return web.HTTPNotFound(text=message)


def scope(request: web.Request) -> Scope:
    """The regions the logged-in operator may see (engine.core.scopes)."""
    return security.current_operator(request).scope


def firm_missing(uscc: str) -> web.HTTPNotFound:
    """The 404 for a firm that does not exist, or is outside the operator's regions: the same page,
    so that an operator cannot tell the two apart (nor learn that a firm exists elsewhere)."""
    return not_found(f"没有统一社会信用代码为 {uscc} 的企业档案。")


async def require_firm_in_scope(request: web.Request, uscc: str) -> None:
    """404 (`firm_missing`) unless the firm's region is in the operator's scope."""
    own = scope(request)
    if not own.is_all and not own.covers(await request.app[READ_MODEL].firm_region(uscc)):
        raise firm_missing(uscc)

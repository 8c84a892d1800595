"""The operators' console: server-rendered pages under /console (aiohttp + jinja2 via aiohttp-jinja2).

`setup(app)` wires it into the service's app: the templates in engine/console/templates (with
autoescaping and the `pii`, `china_time` and `reason` filters), the session middleware
(engine.console.security), the login routes (engine.console.login) and the pages
(engine.console.pages). docs/console.md says who may do what.

The console reads through its own interfaces, which the app factory sets on the app: `READ_MODEL`
(engine.console.read_model) for everything the pages show and `ACCOUNTS`
(engine.console.accounts_store) for operators, sessions and login attempts.
"""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from engine.console import accounts_store, labels, login, pages, read_model, reasons, security, sessions
from engine.core.china_time import CHINA_TZ

TEMPLATES = pathlib.Path(__file__).parent / "templates"

_SET_UP = web.AppKey("console_set_up", bool)

READ_MODEL = read_model.READ_MODEL
ACCOUNTS = accounts_store.ACCOUNTS


def china_time(value: datetime.datetime | datetime.date | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as operators read it: China time (UTC+8), "YYYY-MM-DD HH:MM". Naive datetimes are
    UTC (as SQLite returns them); a date is shown as a date; None as an empty string."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d") if isinstance(value, datetime.date) else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(CHINA_TZ).strftime(fmt)


def setup(app: web.Application, *, clock: Callable[[], datetime.datetime] | None = None) -> None:
    """Add the console to `app` (before it starts). `clock` replaces the time sessions and login
    throttling see (tests). Calling it again on the same app only replaces the clock."""
    if clock is not None:
        app[sessions.CLOCK] = clock
    if app.get(_SET_UP):
        return
    app[_SET_UP] = True
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        filters={"pii": security.pii_filter, "china_time": china_time, "reason": reasons.chinese,
                 "audit_action": labels.audit_action},
    )
    env.globals["ROLE_LABELS"] = security.ROLE_LABELS
    app.middlewares.append(security.middleware)
    app.on_response_prepare.append(security.add_security_headers)
    login.setup(app)
    app.router.add_routes(pages.routes)

"""The security regression suite (issue 18) runs against the service's own app, built as in
tests/console: create_app + console.setup over the SQL `store` (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from engine import console
from engine.web import app as app_module
from tests.console.conftest import (  # noqa: F401  (fixtures shared with the console's tests)
    cheap_argon2,
    console_client,
    console_clock,
    login,
    make_console_client,
    operators,
)


@dataclasses.dataclass
class Service:
    """The app served as `policy-push serve` serves it (web.AppRunner with SERVER_OPTIONS)."""

    app: web.Application
    host: str
    port: int


@pytest.fixture
async def serve(config, store, production_matcher, console_clock) -> AsyncIterator[Callable]:
    """`await serve(**options)`: the service's app with the console over `store`, on a free port, run
    with app_module.SERVER_OPTIONS updated by `options` (the aiohttp test server cancels handlers
    when a client goes away, which the service does not)."""
    runners: list[web.AppRunner] = []

    async def start(**options) -> Service:
        app = app_module.create_app(config, store=store, matcher=production_matcher, run_pipeline=False)
        console.setup(app, clock=console_clock)
        runner = web.AppRunner(app, **{**app_module.SERVER_OPTIONS, **options})
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return Service(app, host, port)

    yield start
    for runner in runners:
        await runner.cleanup()

"""Fixtures both console test suites use: the service's app with the console over a SQL store,
a settable clock, and logging in through the real login form.

    async def test_something(console_client, login):
        await login(console_client, "wang", "viewer")
        page = await console_client.get("/console/decisions")

The console is SQL-only: with the `store` fixture's in-memory variant the console fixtures skip,
so mark console tests `@pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)`
(or `pytestmark = SQL_ONLY`) to run them on SQLite and PostgreSQL only.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import AsyncIterator, Callable

import argon2
import pytest
from aiohttp import test_utils, web

from connectors import sql_accounts, sql_storage
from engine import console
from engine.console import accounts, keys
from engine.web import app as app_module
from tests import conftest

#: The password `log_in` gives the operators it creates.
PASSWORD = "正确的马 battery staple"

SQL_ONLY = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)

#: The hasher the service uses (the tests below swap in a cheap one).
PRODUCTION_HASHER = accounts.HASHER

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class Clock:
    """The console's clock: real time until set; `advance` moves it (session expiry, throttling)."""

    def __init__(self) -> None:
        self.at: datetime.datetime | None = None

    def __call__(self) -> datetime.datetime:
        return self.at or datetime.datetime.now(datetime.UTC)

    def advance(self, **delta: float) -> datetime.datetime:
        self.at = self() + datetime.timedelta(**delta)
        return self.at


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the cheapest parameters: the same encoding and code paths, but milliseconds
    instead of ~0.2 s per hash (test_accounts checks the production parameters)."""
    monkeypatch.setattr(accounts, "HASHER", argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST))


@pytest.fixture
def operators(store) -> sql_accounts.SqlAccounts:
    """The account store over the SQL `store` (skips on the in-memory one, as the console does)."""
    if not isinstance(store, sql_storage.SqlStorage):
        pytest.skip("the console is SQL-only")
    return sql_accounts.SqlAccounts(store)


@pytest.fixture
def console_clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_console_client(config, store, production_matcher, console_clock) -> AsyncIterator[Callable]:
    """Build apps as the service does (create_app + console.setup) over `store`, with extra routes
    if given (added before the server starts), and serve each on a test server."""
    if not isinstance(store, sql_storage.SqlStorage):
        pytest.skip("the console is SQL-only")
    clients: list[test_utils.TestClient] = []

    async def make(*, routes: web.RouteTableDef | None = None) -> test_utils.TestClient:
        app = app_module.create_app(config, store=store, matcher=production_matcher, run_pipeline=False)
        console.setup(app, clock=console_clock)
        if routes is not None:
            app.router.add_routes(routes)
        client = test_utils.TestClient(test_utils.TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def console_client(make_console_client) -> test_utils.TestClient:
    """The app with the console, over the SQL `store`, pipeline not running."""
    return await make_console_client()


def csrf_token(html: str) -> str:
    """The first csrf_token hidden field of a page (every page has one in its logout form)."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


async def log_in(
    client: test_utils.TestClient, username: str, role: str, *, password: str = PASSWORD, display_name: str | None = None
) -> test_utils.TestClient:
    """Create operator `username` with `role` (unless it exists) and log in through the form;
    the client keeps the session cookie."""
    client.session.cookie_jar.clear()  # log in afresh, even if someone is logged in on this client
    store, operators = client.app[keys.STORAGE], client.app[console.ACCOUNTS]
    if await accounts.find(operators, username) is None:
        await accounts.create(operators, store, username, password, role, display_name=display_name or username, actor="test")
    form = await client.get("/console/login")
    assert form.status == 200, await form.text()
    response = await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(await form.text())},
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()
    return client


@pytest.fixture
def login() -> Callable:
    """`await login(client, username, role)`: see log_in."""
    return log_in

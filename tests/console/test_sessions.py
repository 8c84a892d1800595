"""Logging in and out through the form, the session cookie, expiry, throttling and disabled accounts."""

from __future__ import annotations

import datetime
import hashlib

import pytest
import sqlalchemy as sa

from connectors import sql_accounts
from connectors import sql_models as models
from engine.console import accounts, sessions
from engine.console import login as login_module
from tests.console.conftest import PASSWORD, SQL_ONLY, csrf_token

pytestmark = SQL_ONLY

_SESSION = models.ConsoleSession.__table__
_ATTEMPT = models.LoginAttempt.__table__
PAGE = "/console/audit"  # any viewer page


async def audit_log(store) -> list:
    return [e async for e in store.audit_entries()]


async def submit(client, username: str, password: str, **extra: str):
    """Post the login form as a browser would (fetching it first for its CSRF token), as nobody yet."""
    client.session.cookie_jar.clear()
    form = await client.get("/console/login")
    data = {"username": username, "password": password, "csrf_token": csrf_token(await form.text()), **extra}
    return await client.post("/console/login", data=data, allow_redirects=False)


async def lands_on_page(client) -> bool:
    response = await client.get(PAGE, allow_redirects=False)
    assert response.status in (200, 302)
    return response.status == 200


async def create(store, username="wang", role="viewer"):
    return await accounts.create(sql_accounts.SqlAccounts(store), store, username, PASSWORD, role, display_name="王五", actor="test")


async def test_login_sets_an_httponly_lax_cookie_and_stores_only_its_hash(console_client, store):
    await create(store)
    response = await submit(console_client, "Wang ", PASSWORD)  # usernames are trimmed and case-insensitive
    assert response.status == 302 and response.headers["Location"] == "/console/"  # the home page
    cookie = response.cookies[sessions.COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/console"
    assert not cookie["secure"]  # plain http here; see test_security.test_session_cookie_is_secure_over_https
    async with store.read() as connection:
        [row] = (await connection.execute(sa.select(_SESSION))).all()
    assert row.id == hashlib.sha256(cookie.value.encode()).hexdigest() and cookie.value not in str(tuple(row))
    page = await console_client.get(PAGE)
    assert page.status == 200 and "王五" in await page.text()
    [entry] = [e for e in await audit_log(store) if e.action == "login.succeeded"]
    assert entry.actor == "wang" and entry.payload == {"client_ip": "127.0.0.1"}


@pytest.mark.parametrize(
    ("username", "password", "reason"), [("wang", "wrong password!", "bad_password"), ("nobody", PASSWORD, "unknown_user")]
)
async def test_wrong_password_or_unknown_user_fails_alike_and_is_audited(console_client, store, username, password, reason):
    await create(store)
    response = await submit(console_client, username, password)
    assert response.status == 401
    assert sessions.COOKIE_NAME not in response.cookies
    assert login_module.BAD_CREDENTIALS in await response.text()
    assert not await lands_on_page(console_client)
    # Counted, not chained one by one; the window's summary names no typed text as its actor.
    assert not [e for e in await audit_log(store) if e.action.startswith("login.")]
    summary = console_client.app[login_module.REFUSALS].due(None)
    assert summary.actor == "anonymous" and summary.action == "login.refused"
    assert summary.payload["reasons"] == {reason: 1} and summary.payload["usernames"] == {username: 1}
    assert summary.payload["addresses"] == {"127.0.0.1": 1} and summary.payload["refused"] == 1


async def test_login_form_needs_its_csrf_token(console_client, store):
    await create(store)
    await console_client.get("/console/login")  # the CSRF cookie is set, but the form field is missing
    response = await console_client.post("/console/login", data={"username": "wang", "password": PASSWORD}, allow_redirects=False)
    assert response.status == 403
    async with store.read() as connection:
        assert (await connection.execute(sa.select(sa.func.count()).select_from(_SESSION))).scalar() == 0
        assert (await connection.execute(sa.select(sa.func.count()).select_from(_ATTEMPT))).scalar() == 0


@pytest.mark.parametrize(
    ("next_", "location"),
    [("/console/firms?q=阳泉", "/console/firms?q=阳泉"), ("//evil.example/console", "/console/"),
     ("https://evil.example/console", "/console/"), ("/api/firms", "/console/"), ("", "/console/")],
)
async def test_login_returns_to_next_on_this_console_only(console_client, store, next_, location):
    await create(store)
    response = await submit(console_client, "wang", PASSWORD, next=next_)
    assert response.status == 302 and response.headers["Location"] == location


async def test_a_failed_login_keeps_where_to_go_next(console_client, store):
    await create(store)
    response = await submit(console_client, "wang", "wrong password!", next="/console/stats")
    assert 'name="next" value="/console/stats"' in await response.text()
    assert 'name="username" value="wang"' in await response.text()


async def test_console_root_and_login_page_when_logged_in(console_client, login):
    root = await console_client.get("/console", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/console/"
    await login(console_client, "wang", "viewer")
    again = await console_client.get("/console/login?next=/console/stats", allow_redirects=False)
    assert again.status == 302 and again.headers["Location"] == "/console/stats"


# Throttling -------------------------------------------------------------------------------------

async def test_five_failures_lock_the_account_for_the_window(console_client, store, console_clock):
    await create(store)
    start = console_clock.advance(seconds=0)
    for _ in range(login_module.ACCOUNT_FAILURE_LIMIT):
        assert (await submit(console_client, "wang", "wrong password!")).status == 401
    refused = await submit(console_client, "wang", PASSWORD)  # even the right password
    assert refused.status == 429
    assert "登录失败次数过多" in await refused.text() and "15 分钟后再试" in await refused.text()
    assert console_client.app[login_module.REFUSALS].reasons == {"bad_password": 5, "throttled": 1}
    console_clock.at = start + login_module.THROTTLE_WINDOW - datetime.timedelta(seconds=1)
    assert (await submit(console_client, "wang", PASSWORD)).status == 429  # refused attempts do not extend the lock
    console_clock.at = start + login_module.THROTTLE_WINDOW + datetime.timedelta(seconds=1)
    assert (await submit(console_client, "wang", PASSWORD)).status == 302


async def test_a_success_clears_the_account_count(console_client, store):
    await create(store)
    for _ in range(login_module.ACCOUNT_FAILURE_LIMIT - 1):
        assert (await submit(console_client, "wang", "wrong password!")).status == 401
    assert (await submit(console_client, "wang", PASSWORD)).status == 302
    for _ in range(login_module.ACCOUNT_FAILURE_LIMIT - 1):
        assert (await submit(console_client, "wang", "wrong password!")).status == 401
    assert (await submit(console_client, "wang", PASSWORD)).status == 302


async def test_failures_from_one_address_lock_it_for_every_account(console_client, store, console_clock):
    await create(store)
    now = console_clock.advance(seconds=0)
    async with store.write() as connection:  # password spraying: one try per username from one address
        await connection.execute(sa.insert(_ATTEMPT), [
            {"username": f"guess{i}", "client_ip": "127.0.0.1", "success": False, "at": now - datetime.timedelta(minutes=10)}
            for i in range(login_module.ADDRESS_FAILURE_LIMIT)
        ])
    refused = await submit(console_client, "wang", PASSWORD)
    assert refused.status == 429 and "请于 5 分钟后再试" in await refused.text()
    assert await login_module.throttled_for(sql_accounts.SqlAccounts(store), "wang", "10.0.0.9", now) is None  # other addresses may still log in
    console_clock.advance(minutes=5, seconds=1)
    assert (await submit(console_client, "wang", PASSWORD)).status == 302


# Expiry and logout ------------------------------------------------------------------------------

async def test_idle_sessions_expire(console_client, login, console_clock):
    console_clock.advance(seconds=0)
    await login(console_client, "wang", "viewer")
    for _ in range(3):  # working keeps the session alive
        console_clock.advance(minutes=29)
        assert await lands_on_page(console_client)
    console_clock.advance(minutes=30, seconds=1)
    response = await console_client.get(PAGE, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == f"/console/login?next={PAGE}"


async def test_sessions_end_after_the_absolute_lifetime_however_busy(console_client, login, console_clock):
    start = console_clock.advance(seconds=0)
    await login(console_client, "wang", "viewer")
    while console_clock() + datetime.timedelta(minutes=20) < start + sessions.ABSOLUTE_LIFETIME:
        console_clock.advance(minutes=20)
        assert await lands_on_page(console_client)
    console_clock.at = start + sessions.ABSOLUTE_LIFETIME
    assert not await lands_on_page(console_client)


async def test_logout_revokes_the_session(console_client, login, store):
    await login(console_client, "wang", "viewer")
    cookie = console_client.session.cookie_jar.filter_cookies(console_client.make_url("/console/"))[sessions.COOKIE_NAME].value
    token = csrf_token(await (await console_client.get(PAGE)).text())
    refused = await console_client.post("/console/logout", data={}, allow_redirects=False)  # no CSRF token: no logout
    assert refused.status == 403 and await lands_on_page(console_client)
    response = await console_client.post("/console/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/console/login"
    assert response.cookies[sessions.COOKIE_NAME].value == ""
    assert not await lands_on_page(console_client)
    replayed = await console_client.get(PAGE, cookies={sessions.COOKIE_NAME: cookie}, allow_redirects=False)
    assert replayed.status == 302  # the old cookie is dead on the server, not just deleted in the browser
    async with store.read() as connection:
        [row] = (await connection.execute(sa.select(_SESSION))).all()
    assert row.revoked_at is not None
    assert [e.actor for e in await audit_log(store) if e.action == "logout"] == ["wang (viewer)"]


async def test_disabled_operators_lose_their_sessions_and_cannot_log_in(console_client, login, store):
    await login(console_client, "wang", "operator")
    assert await lands_on_page(console_client)
    await accounts.disable(sql_accounts.SqlAccounts(store), store, "wang", actor="test")
    assert not await lands_on_page(console_client)
    response = await submit(console_client, "wang", PASSWORD)
    assert response.status == 403 and "已停用" in await response.text()
    assert [e.payload["reason"] for e in await audit_log(store) if e.action == "login.failed"] == ["disabled"]


async def test_a_new_password_ends_sessions_and_the_old_one_stops_working(console_client, login, store):
    await login(console_client, "wang", "operator")
    await accounts.reset_password(sql_accounts.SqlAccounts(store), store, "wang", "a brand new password", actor="test")
    assert not await lands_on_page(console_client)
    assert (await submit(console_client, "wang", PASSWORD)).status == 401
    assert (await submit(console_client, "wang", "a brand new password")).status == 302


async def test_a_forged_cookie_is_nobody(console_client, login):
    await login(console_client, "wang", "viewer")
    response = await console_client.get(PAGE, cookies={sessions.COOKIE_NAME: "forged"}, allow_redirects=False)
    assert response.status == 302

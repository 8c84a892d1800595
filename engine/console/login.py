"""Logging in and out of the console, with throttling per account and per client address.

Every attempt is recorded in the AccountStore. After ACCOUNT_FAILURE_LIMIT failures for one
username since its last success within THROTTLE_WINDOW, or ADDRESS_FAILURE_LIMIT failures from
one client address within it, further attempts are refused — without checking the password —
until the oldest of those failures leaves the window. Refused attempts are not counted again,
so the lock lifts on time however often someone keeps trying. Every success and failure is
audited ("login.succeeded" / "login.failed", actor the username as typed).

The login form has no session yet, so its CSRF token is a double-submit cookie: a random value
set as a cookie on the form's path and repeated in the form; a cross-site page can make the
browser send the cookie but cannot read it to put it in the form.

The client address is the peer address of the connection (`request.remote`); behind a reverse
proxy, configure it to pass the real address (aiohttp-remotes) or every client shares the proxy's.
"""

from __future__ import annotations

import datetime
import logging
import math
import secrets

import aiohttp_jinja2
import yarl
from aiohttp import web

from engine import audit
from engine.console import accounts, keys, security, sessions
from engine.console.accounts_store import ACCOUNTS, AccountStore

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: Failures for one username before it is locked for the rest of the window: enough for typos,
#: too few for guessing (5 per 15 min is about 500 a day).
ACCOUNT_FAILURE_LIMIT = 5

#: Failures from one client address (across usernames, against password spraying); higher than the
#: per-account limit because a service centre's operators may share one office (NAT) address.
ADDRESS_FAILURE_LIMIT = 20

THROTTLE_WINDOW = datetime.timedelta(minutes=15)

HOME = "/console/decisions"
LOGIN_CSRF_COOKIE = "pp_login_csrf"

BAD_CREDENTIALS = "用户名或密码错误。"
DISABLED = "该账号已停用，请联系管理员。"
THROTTLED = "登录失败次数过多，已暂停登录。请于 {minutes} 分钟后再试。"


def safe_next(target: str | None) -> str:
    """Where to go after login: a console path on this site only (no open redirect)."""
    if not target:
        return HOME
    url = yarl.URL(target)
    if url.is_absolute() or target.startswith("//") or "\\" in target or not url.path.startswith("/console"):
        return HOME
    if url.path in (security.LOGIN_PATH, "/console/logout"):
        return HOME
    return target


async def throttled_for(operators: AccountStore, username: str, client_ip: str, at: datetime.datetime) -> datetime.timedelta | None:
    """How long login is still refused for this username or address, or None if it is not."""
    since = at - THROTTLE_WINDOW
    account = await operators.account_attempts(username, since)
    address = await operators.address_failures(client_ip, since)
    # A success clears the account's count: only failures after the newest success count.
    failures = []
    for attempt in account:
        if attempt.success:
            break
        failures.append(attempt.at)
    waits = []
    if len(failures) >= ACCOUNT_FAILURE_LIMIT:
        waits.append(min(failures) + THROTTLE_WINDOW - at)
    if len(address) >= ADDRESS_FAILURE_LIMIT:
        # Refused once ADDRESS_FAILURE_LIMIT failures are in the window; allowed again when one fewer are.
        waits.append(address[len(address) - ADDRESS_FAILURE_LIMIT] + THROTTLE_WINDOW - at)
    return max(waits) if waits else None


def _login_page(request: web.Request, next_: str | None, *, message: str = "", username: str = "", status: int = 200) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    context = {"csrf_token": token, "message": message, "username": username, "next": safe_next(next_)}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path=security.LOGIN_PATH, httponly=True, samesite="Lax", secure=request.secure)
    return response


def _redirect(location: str) -> web.Response:
    # A plain response rather than a raised HTTPFound, so cookies can be set on it.
    return web.Response(status=302, headers={"Location": location})


@routes.get("/console")
async def console_home(request: web.Request) -> web.Response:
    raise web.HTTPFound(HOME)


@routes.get("/console/login")
async def login_form(request: web.Request) -> web.Response:
    """The login form (an operator already logged in goes straight on)."""
    if security.OPERATOR in request:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return _login_page(request, request.query.get("next"))


@routes.post("/console/login")
async def login_submit(request: web.Request) -> web.Response:
    data = await request.post()
    if not security.same_token(data.get(security.CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise web.HTTPForbidden(text=security.CSRF_MESSAGE)
    typed = str(data.get("username", "")).strip()[:64]
    username = accounts.normalize_username(typed)
    password = str(data.get("password", ""))
    next_ = str(data.get("next", "")) or request.query.get("next")
    store, operators = request.app[keys.STORAGE], request.app[ACCOUNTS]
    at, client_ip = sessions.now(request), (request.remote or "")[:64]

    async def failed(reason: str, message: str, status: int) -> web.Response:
        draft = audit.Draft(typed or "(empty)", "login.failed", "operator", username, {"reason": reason, "client_ip": client_ip})
        await store.append_audit([draft])
        log.info("console login refused for %r from %s: %s", username, client_ip, reason)
        return _login_page(request, next_, message=message, username=typed, status=status)

    wait = await throttled_for(operators, username, client_ip, at)
    if wait is not None:
        return await failed("throttled", THROTTLED.format(minutes=max(1, math.ceil(wait.total_seconds() / 60))), 429)
    account, ok = await accounts.authenticate(operators, username, password) if username else (None, False)
    if not ok or account is None or account.disabled:
        await operators.record_attempt(username, client_ip, False, at)
        if ok and account is not None:
            return await failed("disabled", DISABLED, 403)
        return await failed("unknown_user" if account is None else "bad_password", BAD_CREDENTIALS, 401)
    await operators.record_attempt(username, client_ip, True, at)
    if security.SESSION in request:  # logging in over a live session (another account): end that one
        await sessions.revoke(operators, request[security.SESSION].id, at)
    token, _ = await sessions.create(operators, account.operator, client_ip, at)
    await store.append_audit([audit.Draft(account.operator.username, "login.succeeded", "operator", username, {"client_ip": client_ip})])
    response = _redirect(safe_next(next_))
    sessions.set_cookie(response, request, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=security.LOGIN_PATH)
    return response


@routes.post("/console/logout")
async def logout(request: web.Request) -> web.Response:
    """End the session (CSRF-checked, so another site cannot log an operator out)."""
    session = request.get(security.SESSION)
    if session is not None:
        await security.form(request)
        await sessions.revoke(request.app[ACCOUNTS], session.id, sessions.now(request))
        await security.audit_action(request, "logout", "operator", session.operator.username, {})
    response = _redirect(security.LOGIN_PATH)
    sessions.clear_cookie(response)
    return response

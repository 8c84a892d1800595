"""Logging in and out of the console, with throttling per account and per client address.

Each attempt is reserved in the AccountStore *before* its password is hashed, in one atomic
step (AccountStore.reserve_attempt): after ACCOUNT_FAILURE_LIMIT failures for one username since
its last success within THROTTLE_WINDOW, or ADDRESS_FAILURE_LIMIT failures from one client
address within it, further attempts are refused at once — without hashing the password — until
the oldest of those failures leaves the window. A reserved attempt counts as a failure until its
password proves right, so a concurrent burst gets exactly the limit's worth of guesses. Refused
attempts are not counted again, so the lock lifts on time however often someone keeps trying.
At most constants.LOGIN_HASH_CONCURRENCY passwords are hashed at once (argon2id takes 64 MiB
each), so a burst costs time, not memory.

Audit: each success is audited ("login.succeeded", actor the account's username), and so is a
right password for a disabled account. Failed and throttled attempts are counted, not each
chained: one "login.refused" summary per THROTTLE_WINDOW (RefusalLog), actor "anonymous", with
the counts and the most frequent typed usernames and addresses in its payload — text typed by
an attacker is never an actor, and a flood of refusals cannot flood the chain. Every attempt
(failed ones included) stays in the login_attempt table.

The login form has no session yet, so its CSRF token is a double-submit cookie: a random value
set as a cookie on the form's path and repeated in the form; a cross-site page can make the
browser send the cookie but cannot read it to put it in the form.

The client address is the peer address of the connection (`request.remote`); behind a reverse
proxy, configure it to pass the real address (aiohttp-remotes) or every client shares the proxy's.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import logging
import math
import secrets

import aiohttp_jinja2
import yarl
from aiohttp import web

from engine import audit, constants
from engine.console import accounts, keys, security, sessions
from engine.console.accounts_store import ACCOUNTS, AccountStore

log = logging.getLogger(__name__)
#: The login routes (added by `setup`).
routes = web.RouteTableDef()

#: Failures for one username before it is locked for the rest of the window: enough for typos,
#: too few for guessing (5 per 15 min is about 500 a day).
ACCOUNT_FAILURE_LIMIT = 5

#: Failures from one client address (across usernames, against password spraying); higher than the
#: per-account limit because a service centre's operators may share one office (NAT) address.
ADDRESS_FAILURE_LIMIT = 20

THROTTLE_WINDOW = datetime.timedelta(minutes=15)

#: Where a login leads when it was not sent from a page: the operator's home page.
HOME = "/console/"
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


def retry_at(account_failures: list[datetime.datetime], address_failures: list[datetime.datetime]) -> datetime.datetime | None:
    """When login may be tried again, given the account's failures since its last success and the
    address's failures within the window (both oldest first); None if it may be tried now."""
    moments = []
    if len(account_failures) >= ACCOUNT_FAILURE_LIMIT:
        # Allowed again when one fewer than the limit are in the window.
        moments.append(account_failures[len(account_failures) - ACCOUNT_FAILURE_LIMIT] + THROTTLE_WINDOW)
    if len(address_failures) >= ADDRESS_FAILURE_LIMIT:
        moments.append(address_failures[len(address_failures) - ADDRESS_FAILURE_LIMIT] + THROTTLE_WINDOW)
    return max(moments) if moments else None


async def throttled_for(operators: AccountStore, username: str, client_ip: str, at: datetime.datetime) -> datetime.timedelta | None:
    """How long login is still refused for this username or address, or None if it is not (a read;
    the login itself decides through AccountStore.reserve_attempt)."""
    since = at - THROTTLE_WINDOW
    account = []
    for attempt in await operators.account_attempts(username, since):  # newest first
        if attempt.success:  # a success clears the account's count
            break
        account.append(attempt.at)
    until = retry_at(sorted(account), await operators.address_failures(client_ip, since))
    return None if until is None else until - at


#: The actor of login refusals in the audit trail: never text a client typed.
ANONYMOUS = "anonymous"

#: Typed usernames and addresses named in a refusal summary (the most frequent); the rest are counted.
SUMMARY_TOP = 20
#: Characters of a typed username kept in a summary.
SUMMARY_NAME_CHARS = 32
#: Distinct usernames (and addresses) counted by name per window; refusals for further ones are counted
#: among the others, so a flood of made-up names cannot grow the process's memory.
SUMMARY_TRACKED = 1000


@dataclasses.dataclass
class RefusalLog:
    """Refused logins counted per THROTTLE_WINDOW (aligned to the epoch), appended to the audit
    trail as one "login.refused" entry when a later window sees a login or the app stops."""

    window: int | None = None
    reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    usernames: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    addresses: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @staticmethod
    def window_of(at: datetime.datetime) -> int:
        return int(at.timestamp() // THROTTLE_WINDOW.total_seconds())

    def count(self, at: datetime.datetime, reason: str, typed: str, client_ip: str) -> None:
        """Count one refusal (the caller has taken `due` for a closed window first)."""
        self.window = self.window_of(at)
        self.reasons[reason] += 1
        for counter, key in ((self.usernames, typed[:SUMMARY_NAME_CHARS] or "(empty)"), (self.addresses, client_ip)):
            if key in counter or len(counter) < SUMMARY_TRACKED:
                counter[key] += 1

    def due(self, at: datetime.datetime | None) -> audit.Draft | None:
        """The summary of the counted window if it has closed by `at` (None: closing anyway), and reset."""
        if self.window is None or (at is not None and self.window_of(at) == self.window):
            return None
        start = datetime.datetime.fromtimestamp(self.window * THROTTLE_WINDOW.total_seconds(), datetime.UTC)
        refused = sum(self.reasons.values())
        usernames, addresses = dict(self.usernames.most_common(SUMMARY_TOP)), dict(self.addresses.most_common(SUMMARY_TOP))
        payload = {
            "window_start": start.isoformat(),
            "window_end": (start + THROTTLE_WINDOW).isoformat(),
            "refused": refused,
            "reasons": dict(sorted(self.reasons.items())),
            "usernames": usernames,
            "refused_for_other_usernames": refused - sum(usernames.values()),
            "addresses": addresses,
            "refused_from_other_addresses": refused - sum(addresses.values()),
        }
        self.window = None
        self.reasons, self.usernames, self.addresses = collections.Counter(), collections.Counter(), collections.Counter()
        return audit.Draft(ANONYMOUS, "login.refused", "login", start.isoformat(), payload)


#: The app's refusal counts and its bound on concurrent password hashing (set by `setup`).
REFUSALS = web.AppKey("console_login_refusals", RefusalLog)
HASHING = web.AppKey("console_login_hashing", asyncio.Semaphore)


def setup(app: web.Application) -> None:
    """Give `app` its refusal log and hashing bound, and write the last summary when it stops."""
    app[REFUSALS] = RefusalLog()
    app[HASHING] = asyncio.Semaphore(constants.LOGIN_HASH_CONCURRENCY)
    app.on_cleanup.append(_flush_refusals)
    app.router.add_routes(routes)


async def _flush_refusals(app: web.Application) -> None:
    draft = app[REFUSALS].due(None)
    if draft is not None:
        await app[keys.STORAGE].append_audit([draft])


def _login_page(request: web.Request, next_: str | None, *, message: str = "", username: str = "", status: int = 200) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    context = {"csrf_token": token, "message": message, "username": username, "next": safe_next(next_)}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path=security.LOGIN_PATH, httponly=True, samesite="Lax", secure=sessions.secure(request))
    return response


def _redirect(location: str) -> web.Response:
    # A plain response rather than a raised HTTPFound, so cookies can be set on it.
    return web.Response(status=302, headers={"Location": location})


@routes.get("/console")
async def console_home(request: web.Request) -> web.Response:
    """/console leads to the home page /console/ (which sends an anonymous visitor to log in)."""
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

    refusals = request.app[REFUSALS]
    if (summary := refusals.due(at)) is not None:
        await store.append_audit([summary])

    def refused(reason: str, message: str, status: int) -> web.Response:
        refusals.count(at, reason, typed, client_ip)
        log.debug("console login refused for %r from %s: %s", username, client_ip, reason)
        return _login_page(request, next_, message=message, username=typed, status=status)

    reservation = await operators.reserve_attempt(username, client_ip, at, at - THROTTLE_WINDOW, retry_at)
    if reservation.attempt_id is None:
        wait = (reservation.retry_at or at) - at
        return refused("throttled", THROTTLED.format(minutes=max(1, math.ceil(wait.total_seconds() / 60))), 429)
    async with request.app[HASHING]:
        account, ok = await accounts.authenticate(operators, username, password) if username else (None, False)
    if not ok or account is None:
        return refused("unknown_user" if account is None else "bad_password", BAD_CREDENTIALS, 401)
    if account.disabled:
        # The right password for a real account: worth an entry of its own (the attempt stays a failure).
        await store.append_audit([audit.Draft(account.operator.username, "login.failed", "operator", username, {"reason": "disabled", "client_ip": client_ip})])
        log.info("console login refused for disabled operator %r from %s", username, client_ip)
        return _login_page(request, next_, message=DISABLED, username=typed, status=403)
    await operators.succeed_attempt(reservation.attempt_id)
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

"""Server-side console sessions, kept by the AccountStore (engine.console.accounts_store).

The browser holds a random token in an HttpOnly, SameSite=Lax cookie (Secure on https); the
store keeps only the token's SHA-256 as the session id, so a copy of the database cannot be
replayed as cookies. Each session has its own CSRF token for forms (engine.console.security.form).

A session ends at the first of: logout (revoked), its operator being disabled or given a new
password (revoked, engine.console.accounts), IDLE_TIMEOUT without a request, or
ABSOLUTE_LIFETIME after login. `expires_at` holds the idle deadline, pushed forward as the
operator works but never past created_at + ABSOLUTE_LIFETIME, so no extra column is needed.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import secrets
from collections.abc import Callable

from aiohttp import web

from engine.console import accounts
from engine.console.accounts_store import AccountStore, Session

#: A session ends 8 hours after login whatever happens: one working day, after which the operator
#: logs in again; a stolen cookie is not good for longer.
ABSOLUTE_LIFETIME = datetime.timedelta(hours=8)

#: …and after 30 minutes without a request: a console left open on an unattended desk locks itself.
IDLE_TIMEOUT = datetime.timedelta(minutes=30)

#: The idle deadline is written at most once a minute, so reading pages does not write on every request
#: (the idle timeout is thus honoured to within this much).
TOUCH_INTERVAL = datetime.timedelta(minutes=1)

#: Expired or revoked sessions are deleted this long after they end (the audit trail keeps the logins).
KEEP_ENDED = datetime.timedelta(days=7)

COOKIE_NAME = "pp_console"
#: The cookie is sent to the console only, never to /api or the webhooks.
COOKIE_PATH = "/console"

#: 32 random bytes: unguessable, so a fast hash (SHA-256) of it is safe to store.
TOKEN_BYTES = 32

#: When cookies are marked Secure (engine.settings.COOKIE_SECURE_MODES); the app factory sets it.
COOKIE_SECURE = web.AppKey("console_cookie_secure", str)

#: The clock sessions and login throttling use; tests replace it (engine.console.setup(app, clock=…)).
CLOCK = web.AppKey("console_clock", Callable[[], datetime.datetime])


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def now(request: web.Request) -> datetime.datetime:
    """The current time as the console sees it (UTC)."""
    clock = request.config_dict.get(CLOCK)
    return (clock or utcnow)().astimezone(datetime.UTC)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _deadline(created_at: datetime.datetime, at: datetime.datetime) -> datetime.datetime:
    return min(at + IDLE_TIMEOUT, created_at + ABSOLUTE_LIFETIME)


async def create(
    operators: AccountStore, operator: accounts.OperatorRecord, client_ip: str, at: datetime.datetime
) -> tuple[str, Session]:
    """Start a session; returns the cookie token (shown to the browser only) and the session."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session = Session(digest(token), operator, secrets.token_urlsafe(TOKEN_BYTES), at, _deadline(at, at))
    await operators.create_session(session, client_ip[:64], forget_ended_before=at - KEEP_ENDED)
    return token, session


async def load(operators: AccountStore, token: str, at: datetime.datetime) -> Session | None:
    """The live session for a cookie token, or None (unknown, revoked, expired, or its operator
    disabled). Pushes the idle deadline forward."""
    if not token or len(token) > 200:
        return None
    session = await operators.load_session(digest(token))
    if session is None:
        return None
    if at >= session.expires_at or at >= session.created_at + ABSOLUTE_LIFETIME:
        return None
    deadline = _deadline(session.created_at, at)
    if deadline - session.expires_at >= TOUCH_INTERVAL:
        await operators.extend_session(session.id, deadline)
        session = dataclasses.replace(session, expires_at=deadline)
    return session


async def revoke(operators: AccountStore, session_id: str, at: datetime.datetime) -> None:
    """End a session (logout): its cookie is refused from now on, even if replayed."""
    await operators.revoke_session(session_id, at)


def secure(request: web.Request) -> bool:
    """Whether the console's cookies are marked Secure for this request: over TLS; always, when so
    configured (behind a TLS proxy); or when the proxy says https and it is configured to be trusted."""
    mode = request.config_dict.get(COOKIE_SECURE, "auto")
    if mode == "always" or request.secure:
        return True
    return mode == "forwarded" and request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    """HttpOnly (no script can read it), SameSite=Lax (not sent on cross-site POSTs), Secure
    when the console is served over https (`secure`); it lives no longer than the session can."""
    response.set_cookie(
        COOKIE_NAME, token, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=secure(request),
        max_age=int(ABSOLUTE_LIFETIME.total_seconds()),
    )


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)

"""Server-side console sessions in the `console_session` table.

The browser holds a random token in an HttpOnly, SameSite=Lax cookie (Secure on https); the
table keeps only the token's SHA-256 as the row id, so a copy of the database cannot be
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

import sqlalchemy as sa
from aiohttp import web

from connectors import sql_models as models
from engine import storage
from engine.console import accounts

_SESSION = models.ConsoleSession.__table__
_OPERATOR = models.Operator.__table__

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

#: The clock sessions and login throttling use; tests replace it (engine.console.setup(app, clock=…)).
CLOCK = web.AppKey("console_clock", Callable[[], datetime.datetime])


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def now(request: web.Request) -> datetime.datetime:
    """The current time as the console sees it (UTC)."""
    clock = request.config_dict.get(CLOCK)
    return (clock or utcnow)().astimezone(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Session:
    """A live session: its stored id (the token's SHA-256), who it belongs to and its CSRF token."""

    id: str
    operator: accounts.OperatorRecord
    csrf_token: str
    created_at: datetime.datetime
    expires_at: datetime.datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _deadline(created_at: datetime.datetime, at: datetime.datetime) -> datetime.datetime:
    return min(at + IDLE_TIMEOUT, created_at + ABSOLUTE_LIFETIME)


async def create(
    store: storage.Storage, operator: accounts.OperatorRecord, client_ip: str, at: datetime.datetime
) -> tuple[str, Session]:
    """Start a session; returns the cookie token (shown to the browser only) and the session."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session = Session(digest(token), operator, secrets.token_urlsafe(TOKEN_BYTES), at, _deadline(at, at))
    async with store.write() as connection:
        # Housekeeping while we hold the writer anyway: forget this operator's long-ended sessions.
        await connection.execute(
            sa.delete(_SESSION).where(
                (_SESSION.c.operator_id == operator.id)
                & ((_SESSION.c.expires_at < at - KEEP_ENDED) | (_SESSION.c.revoked_at < at - KEEP_ENDED))
            )
        )
        await connection.execute(
            sa.insert(_SESSION).values(
                id=session.id, operator_id=operator.id, csrf_token=session.csrf_token, client_ip=client_ip[:64],
                created_at=at, expires_at=session.expires_at,
            )
        )
    return token, session


async def load(store: storage.Storage, token: str, at: datetime.datetime) -> Session | None:
    """The live session for a cookie token, or None (unknown, revoked, expired, or its operator
    disabled). Pushes the idle deadline forward."""
    if not token or len(token) > 200:
        return None
    query = (
        sa.select(_SESSION, _OPERATOR.c.username, _OPERATOR.c.display_name, _OPERATOR.c.role)
        .join(_OPERATOR, _OPERATOR.c.id == _SESSION.c.operator_id)
        .where((_SESSION.c.id == digest(token)) & _SESSION.c.revoked_at.is_(None) & _OPERATOR.c.disabled_at.is_(None))
    )
    async with store.read() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    created_at, expires_at = models.as_utc(row.created_at), models.as_utc(row.expires_at)
    if at >= expires_at or at >= created_at + ABSOLUTE_LIFETIME:
        return None
    operator = accounts.OperatorRecord(row.operator_id, row.username, row.display_name, row.role)
    deadline = _deadline(created_at, at)
    if deadline - expires_at >= TOUCH_INTERVAL:
        async with store.write() as connection:
            await connection.execute(
                sa.update(_SESSION).where((_SESSION.c.id == row.id) & _SESSION.c.revoked_at.is_(None)).values(expires_at=deadline)
            )
        expires_at = deadline
    return Session(row.id, operator, row.csrf_token, created_at, expires_at)


async def revoke(store: storage.Storage, session_id: str, at: datetime.datetime) -> None:
    """End a session (logout): its cookie is refused from now on, even if replayed."""
    async with store.write() as connection:
        await connection.execute(
            sa.update(_SESSION).where((_SESSION.c.id == session_id) & _SESSION.c.revoked_at.is_(None)).values(revoked_at=at)
        )


def set_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    """HttpOnly (no script can read it), SameSite=Lax (not sent on cross-site POSTs), Secure
    when the console is served over https; it lives no longer than the session can."""
    response.set_cookie(
        COOKIE_NAME, token, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=request.secure,
        max_age=int(ABSOLUTE_LIFETIME.total_seconds()),
    )


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)

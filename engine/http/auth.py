"""Bearer tokens for /api: created once, stored as SHA-256, checked by a middleware."""

from __future__ import annotations

import abc
import datetime
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Collection

from aiohttp import web

from engine import constants
from engine.core import records
from engine.http import responses


class TokenStore(abc.ABC):
    """What token authentication needs from storage."""

    @abc.abstractmethod
    async def add_token(
        self, token_sha256: str, role: str, label: str, expires_at: datetime.datetime | None = None
    ) -> records.TokenRecord:
        """Store a new token's hash (expiring at `expires_at`, if given)."""

    @abc.abstractmethod
    async def find_token(self, token_sha256: str) -> records.TokenRecord | None:
        """The unrevoked token with this hash, or None (whether it has expired is the caller's rule)."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[records.TokenRecord]:
        """Every token, revoked and expired ones too, oldest first."""

    @abc.abstractmethod
    async def revoke_token(self, token_id: int, at: datetime.datetime) -> records.TokenRecord | None:
        """Mark a token revoked at `at` (no change if it already is); the token, or None if unknown."""

    @abc.abstractmethod
    async def touch_token(self, token_id: int, at: datetime.datetime) -> None:
        """Record that the token authenticated a request at `at`."""


#: The challenge a 401 from /api carries (RFC 6750).
CHALLENGE = 'Bearer realm="policy-push"'

#: The token store the bearer middleware checks tokens against.
TOKENS = web.AppKey("tokens", TokenStore)
#: The bearer token that authenticated a request to /api.
API_TOKEN = web.RequestKey("api_token", records.TokenRecord)


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store; the token is shown once and never kept."""
    token = constants.TOKEN_PREFIX + secrets.token_urlsafe(constants.TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 bits of entropy, so a slow password hash would add nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """Roles are ordered viewer < operator < admin; a role may do what the ones below it may."""
    return constants.ROLES.index(role) >= constants.ROLES.index(needed)


def require_role(request: web.Request, needed: str) -> records.TokenRecord:
    """The request's token, if its role suffices; otherwise a 403."""
    token = request[API_TOKEN]
    if not role_allows(token.role, needed):
        raise responses.error(403, "forbidden", f"this needs the {needed} role; the token has {token.role}")
    return token


def bearer_middleware(
    prefix: str = "/api", public: Collection[str] = ()
) -> Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable[web.StreamResponse]]:
    """Require `Authorization: Bearer <token>` on every path under `prefix` except `public` ones."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(prefix) or request.path in public:
            return await handler(request)
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise responses.error(
                401, "unauthorized", "send Authorization: Bearer <token> (create one with `policy-push tokens create`)",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        tokens = request.app[TOKENS]
        token = await tokens.find_token(hash_token(credential.strip()))
        now = datetime.datetime.now(datetime.UTC)
        if token is None or not token.usable(now):
            raise responses.error(401, "unauthorized", "unknown, revoked or expired token",
                                  headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'})
        if token.last_used_at is None or now - token.last_used_at >= datetime.timedelta(seconds=constants.TOKEN_TOUCH_SECONDS):
            await tokens.touch_token(token.id, now)
        request[API_TOKEN] = token
        return await handler(request)

    return middleware

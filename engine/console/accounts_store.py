"""Where operator accounts, console sessions and login attempts are kept: the interface, and the
records it deals in.

The rules (usernames, passwords, hashing, when a session has ended, when login is throttled)
are engine.console.accounts, .sessions and .login; an `AccountStore` only stores and finds.
The SQL one is connectors/sql_accounts.py, set on the app as `ACCOUNTS` by the app factory and
used by the `policy-push operators` commands.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
from collections.abc import Callable

from aiohttp import web

from engine.core import scopes


class DuplicateUsername(Exception):
    """An account with that username already exists."""


@dataclasses.dataclass(frozen=True)
class OperatorRecord:
    """Who is using the console (what handlers and templates see)."""

    id: int
    username: str
    display_name: str
    role: str
    #: The regions whose firms the operator may see (engine.core.scopes); accounts from before scopes see all.
    scope: scopes.Scope = scopes.ALL


@dataclasses.dataclass(frozen=True)
class Account:
    """An operator row with what only account management needs."""

    operator: OperatorRecord
    password_hash: str
    created_at: datetime.datetime
    disabled_at: datetime.datetime | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclasses.dataclass(frozen=True)
class Session:
    """A console session: its stored id (the cookie token's SHA-256), who it belongs to and its CSRF token."""

    id: str
    operator: OperatorRecord
    csrf_token: str
    created_at: datetime.datetime
    expires_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One login attempt: when, and whether it succeeded."""

    at: datetime.datetime
    success: bool


#: Given the account's failures (since its newest success) and the address's failures, both oldest
#: first: when the attempt may be made again if it is refused now, or None to let it through.
Refusal = Callable[[list[datetime.datetime], list[datetime.datetime]], datetime.datetime | None]


@dataclasses.dataclass(frozen=True)
class Reservation:
    """The outcome of `reserve_attempt`: the recorded attempt's id, or when to try again if refused."""

    attempt_id: int | None
    retry_at: datetime.datetime | None = None


class AccountStore(abc.ABC):
    """Operator accounts, their console sessions and the login attempts. Usernames are given in
    their stored (normalised) form; times are UTC."""

    # Accounts ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def find_account(self, username: str) -> Account | None:
        """The account called `username`, disabled or not."""

    @abc.abstractmethod
    async def get_account(self, operator_id: int) -> Account | None:
        """The account with this id, disabled or not."""

    @abc.abstractmethod
    async def all_accounts(self) -> list[Account]:
        """Every account, by username."""

    @abc.abstractmethod
    async def create_account(
        self, username: str, display_name: str, role: str, password_hash: str, created_at: datetime.datetime,
        scope: scopes.Scope = scopes.ALL,
    ) -> OperatorRecord:
        """Add an account seeing `scope`; DuplicateUsername if the username is taken."""

    @abc.abstractmethod
    async def update_account(
        self,
        operator_id: int,
        *,
        password_hash: str | None = None,
        disabled_at: datetime.datetime | None = None,
        revoke_sessions_at: datetime.datetime | None = None,
        scope: scopes.Scope | None = None,
    ) -> int:
        """Set the given (non-None) fields of an account (`scope` to scopes.ALL widens it to every
        region) and, with `revoke_sessions_at`, revoke its
        open sessions as of then, in one transaction. Returns how many sessions were revoked."""

    # Sessions ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_session(self, session: Session, client_ip: str, *, forget_ended_before: datetime.datetime) -> None:
        """Store a new session, and delete the operator's sessions that expired or were revoked
        before `forget_ended_before` (housekeeping while the writer is held anyway)."""

    @abc.abstractmethod
    async def load_session(self, session_id: str) -> Session | None:
        """The session with this id if it is not revoked and its operator is not disabled (whether
        it has expired is the caller's rule), else None."""

    @abc.abstractmethod
    async def extend_session(self, session_id: str, expires_at: datetime.datetime) -> None:
        """Move an unrevoked session's deadline to `expires_at`."""

    @abc.abstractmethod
    async def revoke_session(self, session_id: str, at: datetime.datetime) -> None:
        """Mark a session revoked at `at` (no change if it already is)."""

    # Login attempts ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def reserve_attempt(
        self, username: str, client_ip: str, at: datetime.datetime, since: datetime.datetime, refuse: Refusal
    ) -> Reservation:
        """Atomically decide and record one login attempt before its password is checked: read the
        account's failures after `since` (only those after its newest success) and the address's
        failures after `since`, both oldest first, ask `refuse` whether to refuse; if it does not,
        record the attempt as a failure (`succeed_attempt` turns it into a success). Concurrent
        calls are serialised (the SQLite writer; an advisory lock on PostgreSQL), so a burst cannot
        get past the limits `refuse` applies."""

    @abc.abstractmethod
    async def succeed_attempt(self, attempt_id: int) -> None:
        """Mark a reserved attempt as a success (the password was right)."""

    @abc.abstractmethod
    async def account_attempts(self, username: str, since: datetime.datetime) -> list[Attempt]:
        """The attempts for `username` after `since`, newest first."""

    @abc.abstractmethod
    async def address_failures(self, client_ip: str, since: datetime.datetime) -> list[datetime.datetime]:
        """When the failed attempts from `client_ip` after `since` were made, oldest first."""


#: The account store the console's login and session middleware use; the app factory sets it.
ACCOUNTS = web.AppKey("console_accounts", AccountStore)

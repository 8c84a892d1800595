"""Operator accounts: argon2id-hashed passwords and roles; create, disable, reset-password, look up.

Operators are managed from the command line (`policy-push operators …`, engine/console/operators_cli.py);
every change is appended to the audit trail with the acting CLI user as actor. Disabling an
operator or resetting a password also revokes the operator's open console sessions, so a
leaked or former account stops working at once, not when its cookie runs out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re

import argon2
import sqlalchemy as sa

from engine import audit, constants, storage
from connectors import sql_models as models

_OPERATOR = models.Operator.__table__
_SESSION = models.ConsoleSession.__table__

#: Roles, least privileged first (shared with the API's bearer tokens).
ROLES = constants.ROLES

#: argon2id with argon2-cffi's defaults (RFC 9106's "low memory" profile: t=3, m=64 MiB, p=4),
#: about 0.2 s per hash here: slow enough to make offline guessing of a stolen hash expensive,
#: fast enough for a login. Hashes record their parameters, so raising them later only means
#: changing this line: existing hashes are upgraded at their owner's next login (`needs_rehash`).
HASHER = argon2.PasswordHasher()

#: NIST SP 800-63B asks for at least 8 characters; console accounts see PII, so ask for a little more.
MIN_PASSWORD_LENGTH = 10

#: Usernames are lower-case ASCII (compared case-insensitively): easy to type, safe in logs and audit actors.
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")


class AccountError(ValueError):
    """An operator change was refused (bad name, weak password, unknown or duplicate account)."""


@dataclasses.dataclass(frozen=True)
class OperatorRecord:
    """Who is using the console (what handlers and templates see)."""

    id: int
    username: str
    display_name: str
    role: str


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


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def normalize_username(raw: str) -> str:
    """The stored form of a username: trimmed, lower-case."""
    return raw.strip().lower()


def check_username(raw: str) -> str:
    """The normalised username, or AccountError if it is not an acceptable one."""
    username = normalize_username(raw)
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError(f"username {raw!r}: use 2-64 characters a-z, 0-9, '.', '_', '@' or '-', starting with a letter or digit")
    return username


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise AccountError("the password must not start or end with white space (it is easily lost when typing)")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r}: use one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    """An argon2id encoded hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash) with a fresh random salt."""
    return HASHER.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    """Whether `password` matches `encoded`; never raises for a wrong password or a malformed hash."""
    try:
        return HASHER.verify(encoded, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


_dummy_hashes: dict[tuple, str] = {}


def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so that answering takes as long
    as for a known one and response times do not reveal which usernames exist."""
    key = (HASHER.type, HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism, HASHER.hash_len, HASHER.salt_len)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hash_password("policy-push dummy password")
    return _dummy_hashes[key]


def _account(row: sa.Row) -> Account:
    return Account(
        OperatorRecord(row.id, row.username, row.display_name, row.role),
        row.password_hash,
        models.as_utc(row.created_at),
        models.as_utc(row.disabled_at),
    )


async def find(store: storage.Storage, username: str) -> Account | None:
    """The account called `username` (any case), disabled or not."""
    async with store.read() as connection:
        row = (await connection.execute(sa.select(_OPERATOR).where(_OPERATOR.c.username == normalize_username(username)))).first()
    return None if row is None else _account(row)


async def get(store: storage.Storage, operator_id: int) -> Account | None:
    async with store.read() as connection:
        row = (await connection.execute(sa.select(_OPERATOR).where(_OPERATOR.c.id == operator_id))).first()
    return None if row is None else _account(row)


async def all_accounts(store: storage.Storage) -> list[Account]:
    async with store.read() as connection:
        rows = (await connection.execute(sa.select(_OPERATOR).order_by(_OPERATOR.c.username))).all()
    return [_account(row) for row in rows]


async def create(
    store: storage.Storage, username: str, password: str, role: str, *, display_name: str = "", actor: str
) -> OperatorRecord:
    """Add an operator; AccountError if the name is taken or anything is malformed."""
    username, role = check_username(username), check_role(role)
    check_password(password)
    encoded = await asyncio.to_thread(hash_password, password)
    display_name = display_name.strip() or username
    try:
        async with store.write() as connection:
            operator_id = (
                await connection.execute(
                    sa.insert(_OPERATOR)
                    .values(username=username, display_name=display_name, role=role, password_hash=encoded, created_at=_now())
                    .returning(_OPERATOR.c.id)
                )
            ).scalar_one()
    except sa.exc.IntegrityError:
        raise AccountError(f"an operator called {username!r} already exists") from None
    await store.append_audit([audit.Draft(actor, "operator.created", "operator", username, {"role": role, "display_name": display_name})])
    return OperatorRecord(operator_id, username, display_name, role)


async def _change(store: storage.Storage, username: str, values: dict, action: str, actor: str) -> Account:
    """Update one operator, revoke its sessions, audit `action`."""
    account = await find(store, username)
    if account is None:
        raise AccountError(f"no operator called {normalize_username(username)!r}")
    now = _now()
    async with store.write() as connection:
        if values:
            await connection.execute(sa.update(_OPERATOR).where(_OPERATOR.c.id == account.operator.id).values(**values))
        revoked = (
            await connection.execute(
                sa.update(_SESSION)
                .where((_SESSION.c.operator_id == account.operator.id) & _SESSION.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        ).rowcount
    await store.append_audit([audit.Draft(actor, action, "operator", account.operator.username, {"sessions_revoked": revoked})])
    return await find(store, username)  # type: ignore[return-value]


async def disable(store: storage.Storage, username: str, *, actor: str) -> Account:
    """Stop an operator from logging in and end the sessions it has open. Idempotent in effect;
    the first disabling time is kept."""
    account = await find(store, username)
    values = {} if account is not None and account.disabled else {"disabled_at": _now()}
    return await _change(store, username, values, "operator.disabled", actor)


async def reset_password(store: storage.Storage, username: str, password: str, *, actor: str) -> Account:
    """Give an operator a new password; its open sessions end (whoever knew the old one is out)."""
    check_password(password)
    encoded = await asyncio.to_thread(hash_password, password)
    return await _change(store, username, {"password_hash": encoded}, "operator.password_reset", actor)


async def authenticate(store: storage.Storage, username: str, password: str) -> tuple[Account | None, bool]:
    """The account for `username` (None if unknown) and whether `password` is its password.
    A disabled account may still verify: the caller refuses it, with its own message."""
    account = await find(store, username)
    if account is None:
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        return None, False
    ok = await asyncio.to_thread(verify_password, account.password_hash, password)
    if ok and HASHER.check_needs_rehash(account.password_hash):
        # The hasher's parameters were raised since this hash was made: store a stronger hash now
        # that the password is at hand (it never is otherwise).
        encoded = await asyncio.to_thread(hash_password, password)
        async with store.write() as connection:
            await connection.execute(sa.update(_OPERATOR).where(_OPERATOR.c.id == account.operator.id).values(password_hash=encoded))
    return account, ok

"""Operator accounts: argon2id-hashed passwords and roles; create, disable, reset-password, look up.

Operators are managed from the command line (`policy-push operators …`, engine/cli/operators.py);
every change is appended to the audit trail with the acting CLI user as actor. The rules are
here; the accounts themselves are kept by an AccountStore (engine.console.accounts_store). Disabling an
operator or resetting a password also revokes the operator's open console sessions, so a
leaked or former account stops working at once, not when its cookie runs out.
"""

from __future__ import annotations

import asyncio
import datetime
import re

import argon2

from engine import audit, constants
from engine.console import accounts_store
from engine.console.accounts_store import Account, AccountStore, OperatorRecord
from engine.core import scopes

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


async def find(operators: AccountStore, username: str) -> Account | None:
    """The account called `username` (any case), disabled or not."""
    return await operators.find_account(normalize_username(username))


async def get(operators: AccountStore, operator_id: int) -> Account | None:
    return await operators.get_account(operator_id)


async def all_accounts(operators: AccountStore) -> list[Account]:
    return await operators.all_accounts()


async def create(
    operators: AccountStore, trail: audit.AuditStore, username: str, password: str, role: str, *, display_name: str = "", actor: str,
    scope: scopes.Scope = scopes.ALL,
) -> OperatorRecord:
    """Add an operator seeing the firms of `scope` (audited in `trail`); AccountError if the name is
    taken or anything is malformed."""
    username, role = check_username(username), check_role(role)
    check_password(password)
    encoded = await asyncio.to_thread(hash_password, password)
    display_name = display_name.strip() or username
    try:
        record = await operators.create_account(username, display_name, role, encoded, _now(), scope)
    except accounts_store.DuplicateUsername:
        raise AccountError(f"an operator called {username!r} already exists") from None
    await trail.append_audit([audit.Draft(actor, "operator.created", "operator", username,
                                        {"role": role, "display_name": display_name, "regions": str(scope)})])
    return record


async def _change(
    operators: AccountStore, trail: audit.AuditStore, username: str, action: str, actor: str, *,
    password_hash: str | None = None, disabled_at: datetime.datetime | None = None,
) -> Account:
    """Update one operator, revoke its sessions, audit `action`."""
    account = await find(operators, username)
    if account is None:
        raise AccountError(f"no operator called {normalize_username(username)!r}")
    revoked = await operators.update_account(
        account.operator.id, password_hash=password_hash, disabled_at=disabled_at, revoke_sessions_at=_now())
    await trail.append_audit([audit.Draft(actor, action, "operator", account.operator.username, {"sessions_revoked": revoked})])
    return await find(operators, username)  # type: ignore[return-value]


async def disable(operators: AccountStore, trail: audit.AuditStore, username: str, *, actor: str) -> Account:
    """Stop an operator from logging in and end the sessions it has open. Idempotent in effect;
    the first disabling time is kept."""
    account = await find(operators, username)
    disabled_at = None if account is not None and account.disabled else _now()
    return await _change(operators, trail, username, "operator.disabled", actor, disabled_at=disabled_at)


async def reset_password(operators: AccountStore, trail: audit.AuditStore, username: str, password: str, *, actor: str) -> Account:
    """Give an operator a new password; its open sessions end (whoever knew the old one is out)."""
    check_password(password)
    encoded = await asyncio.to_thread(hash_password, password)
    return await _change(operators, trail, username, "operator.password_reset", actor, password_hash=encoded)


async def set_scope(operators: AccountStore, trail: audit.AuditStore, username: str, scope: scopes.Scope, *, actor: str) -> Account:
    """Change the regions an operator may see (audited as operator.scope_changed, old and new). Its
    sessions stay open: the scope is read afresh with every request, so the next page obeys it."""
    account = await find(operators, username)
    if account is None:
        raise AccountError(f"no operator called {normalize_username(username)!r}")
    await operators.update_account(account.operator.id, scope=scope)
    await trail.append_audit([audit.Draft(actor, "operator.scope_changed", "operator", account.operator.username,
                                          {"from": str(account.operator.scope), "to": str(scope)})])
    return await find(operators, username)  # type: ignore[return-value]


async def authenticate(operators: AccountStore, username: str, password: str) -> tuple[Account | None, bool]:
    """The account for `username` (None if unknown) and whether `password` is its password.
    A disabled account may still verify: the caller refuses it, with its own message."""
    account = await find(operators, username)
    if account is None:
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        return None, False
    ok = await asyncio.to_thread(verify_password, account.password_hash, password)
    if ok and HASHER.check_needs_rehash(account.password_hash):
        # The hasher's parameters were raised since this hash was made: store a stronger hash now
        # that the password is at hand (it never is otherwise).
        encoded = await asyncio.to_thread(hash_password, password)
        await operators.update_account(account.operator.id, password_hash=encoded)
    return account, ok

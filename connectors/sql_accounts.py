"""Operator accounts, console sessions and login attempts in the SQL tables
(engine.console.accounts_store.AccountStore): `operator`, `console_session`, `login_attempt`.

Reads go through SqlStorage's read connections, writes through its single writer.
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from connectors import sql_models as models
from connectors import sql_storage
from engine.console.accounts_store import (
    Account,
    AccountStore,
    Attempt,
    DuplicateUsername,
    OperatorRecord,
    Refusal,
    Reservation,
    Session,
)
from engine.core import scopes

_OPERATOR = models.Operator.__table__
_SESSION = models.ConsoleSession.__table__
_ATTEMPT = models.LoginAttempt.__table__

#: The PostgreSQL advisory lock key that serialises login reservations ("pp-login" as a number).
_LOGIN_LOCK = int.from_bytes(b"pp-login", "big") >> 1


def _account(row: Any) -> Account:
    return Account(
        OperatorRecord(row.id, row.username, row.display_name, row.role, scopes.load(row.regions)),
        row.password_hash,
        models.as_utc(row.created_at),
        models.as_utc(row.disabled_at),
    )


class SqlAccounts(AccountStore):
    """The account store on a SqlStorage's database (the storage must be open while it is used)."""

    def __init__(self, store: sql_storage.SqlStorage) -> None:
        self._store = store

    async def _rows(self, query: sa.Executable) -> list[Any]:
        async with self._store.read() as connection:
            return list(await connection.execute(query))

    async def _account_where(self, condition: sa.ColumnElement[bool]) -> Account | None:
        rows = await self._rows(sa.select(_OPERATOR).where(condition))
        return _account(rows[0]) if rows else None

    # Accounts ---------------------------------------------------------------------------------

    async def find_account(self, username: str) -> Account | None:
        return await self._account_where(_OPERATOR.c.username == username)

    async def get_account(self, operator_id: int) -> Account | None:
        return await self._account_where(_OPERATOR.c.id == operator_id)

    async def all_accounts(self) -> list[Account]:
        return [_account(row) for row in await self._rows(sa.select(_OPERATOR).order_by(_OPERATOR.c.username))]

    async def create_account(
        self, username: str, display_name: str, role: str, password_hash: str, created_at: datetime.datetime,
        scope: scopes.Scope = scopes.ALL,
    ) -> OperatorRecord:
        insert = (sa.insert(_OPERATOR)
                  .values(username=username, display_name=display_name, role=role, password_hash=password_hash, created_at=created_at,
                          regions=scope.stored())
                  .returning(_OPERATOR.c.id))
        try:
            async with self._store.write() as connection:
                operator_id = (await connection.execute(insert)).scalar_one()
        except sa.exc.IntegrityError:
            # The only constraint an insert of valid values can break is the unique username.
            raise DuplicateUsername(username) from None
        return OperatorRecord(operator_id, username, display_name, role, scope)

    async def update_account(
        self,
        operator_id: int,
        *,
        password_hash: str | None = None,
        disabled_at: datetime.datetime | None = None,
        revoke_sessions_at: datetime.datetime | None = None,
        scope: scopes.Scope | None = None,
    ) -> int:
        values: dict[str, Any] = {
            name: value for name, value in (("password_hash", password_hash), ("disabled_at", disabled_at)) if value is not None}
        if scope is not None:
            values["regions"] = scope.stored()
        revoked = 0
        async with self._store.write() as connection:
            if values:
                await connection.execute(sa.update(_OPERATOR).where(_OPERATOR.c.id == operator_id).values(**values))
            if revoke_sessions_at is not None:
                revoked = (await connection.execute(
                    sa.update(_SESSION)
                    .where((_SESSION.c.operator_id == operator_id) & _SESSION.c.revoked_at.is_(None))
                    .values(revoked_at=revoke_sessions_at)
                )).rowcount
        return revoked

    # Sessions ---------------------------------------------------------------------------------

    async def create_session(self, session: Session, client_ip: str, *, forget_ended_before: datetime.datetime) -> None:
        async with self._store.write() as connection:
            await connection.execute(
                sa.delete(_SESSION).where(
                    (_SESSION.c.operator_id == session.operator.id)
                    & ((_SESSION.c.expires_at < forget_ended_before) | (_SESSION.c.revoked_at < forget_ended_before))
                )
            )
            await connection.execute(
                sa.insert(_SESSION).values(
                    id=session.id, operator_id=session.operator.id, csrf_token=session.csrf_token, client_ip=client_ip,
                    created_at=session.created_at, expires_at=session.expires_at,
                )
            )

    async def load_session(self, session_id: str) -> Session | None:
        query = (
            sa.select(_SESSION, _OPERATOR.c.username, _OPERATOR.c.display_name, _OPERATOR.c.role, _OPERATOR.c.regions)
            .join(_OPERATOR, _OPERATOR.c.id == _SESSION.c.operator_id)
            .where((_SESSION.c.id == session_id) & _SESSION.c.revoked_at.is_(None) & _OPERATOR.c.disabled_at.is_(None))
        )
        rows = await self._rows(query)
        if not rows:
            return None
        row = rows[0]
        # The scope is read with every request, so a change to it applies at the operator's next page.
        operator = OperatorRecord(row.operator_id, row.username, row.display_name, row.role, scopes.load(row.regions))
        return Session(row.id, operator, row.csrf_token, models.as_utc(row.created_at), models.as_utc(row.expires_at))

    async def extend_session(self, session_id: str, expires_at: datetime.datetime) -> None:
        async with self._store.write() as connection:
            await connection.execute(
                sa.update(_SESSION).where((_SESSION.c.id == session_id) & _SESSION.c.revoked_at.is_(None)).values(expires_at=expires_at)
            )

    async def revoke_session(self, session_id: str, at: datetime.datetime) -> None:
        async with self._store.write() as connection:
            await connection.execute(
                sa.update(_SESSION).where((_SESSION.c.id == session_id) & _SESSION.c.revoked_at.is_(None)).values(revoked_at=at)
            )

    # Login attempts ---------------------------------------------------------------------------

    async def reserve_attempt(
        self, username: str, client_ip: str, at: datetime.datetime, since: datetime.datetime, refuse: Refusal
    ) -> Reservation:
        async with self._store.write() as connection:
            if not self._store.is_sqlite:
                # One transaction-scoped lock serialises reservations, as SQLite's single writer does:
                # counting and inserting are then one step for concurrent logins (they take milliseconds).
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOGIN_LOCK)))
            recent = _ATTEMPT.c.at > since
            last_success = (await connection.execute(
                sa.select(sa.func.max(_ATTEMPT.c.id)).where((_ATTEMPT.c.username == username) & _ATTEMPT.c.success.is_(True) & recent)
            )).scalar() or 0
            account = (await connection.execute(
                sa.select(_ATTEMPT.c.at)
                .where((_ATTEMPT.c.username == username) & _ATTEMPT.c.success.is_(False) & recent & (_ATTEMPT.c.id > last_success))
                .order_by(_ATTEMPT.c.at, _ATTEMPT.c.id)
            )).scalars().all()
            address = (await connection.execute(
                sa.select(_ATTEMPT.c.at)
                .where((_ATTEMPT.c.client_ip == client_ip) & _ATTEMPT.c.success.is_(False) & recent)
                .order_by(_ATTEMPT.c.at, _ATTEMPT.c.id)
            )).scalars().all()
            retry_at = refuse([models.as_utc(a) for a in account], [models.as_utc(a) for a in address])
            if retry_at is not None:
                return Reservation(None, retry_at)
            attempt_id = (await connection.execute(
                sa.insert(_ATTEMPT).values(username=username, client_ip=client_ip, success=False, at=at).returning(_ATTEMPT.c.id)
            )).scalar_one()
        return Reservation(attempt_id)

    async def succeed_attempt(self, attempt_id: int) -> None:
        async with self._store.write() as connection:
            await connection.execute(sa.update(_ATTEMPT).where(_ATTEMPT.c.id == attempt_id).values(success=True))

    async def account_attempts(self, username: str, since: datetime.datetime) -> list[Attempt]:
        query = (sa.select(_ATTEMPT.c.at, _ATTEMPT.c.success)
                 .where((_ATTEMPT.c.username == username) & (_ATTEMPT.c.at > since)).order_by(_ATTEMPT.c.at.desc(), _ATTEMPT.c.id.desc()))
        return [Attempt(models.as_utc(row.at), row.success) for row in await self._rows(query)]

    async def address_failures(self, client_ip: str, since: datetime.datetime) -> list[datetime.datetime]:
        query = (sa.select(_ATTEMPT.c.at)
                 .where((_ATTEMPT.c.client_ip == client_ip) & _ATTEMPT.c.success.is_(False) & (_ATTEMPT.c.at > since))
                 .order_by(_ATTEMPT.c.at))
        return [models.as_utc(row.at) for row in await self._rows(query)]

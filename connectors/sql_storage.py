"""SQL storage through SQLModel/SQLAlchemy: SQLite (aiosqlite) or PostgreSQL (asyncpg), picked by URL.

The whole store, built on the layers of connectors.sql_base (engines and locking rules there):
this top layer adds received events (with group commit) and API tokens.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_firm_page, sql_group_commit
from connectors import sql_models as models
from engine import constants, settings, storage
from engine.core import event_status, records

_EVENT = models.Event.__table__
_FIRM = models.Firm.__table__
_FIELD = models.ProfileField.__table__
_DECISION = models.Decision.__table__
_TOKEN = models.ApiToken.__table__


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SqlStorage(sql_firm_page.SqlFirmPage, storage.Storage):
    """Storage on a relational database; see connectors.sql_base for the locking rules."""

    @classmethod
    def configured(cls, config: settings.Settings) -> SqlStorage:
        """The store the service and its commands use: the configured database, with the configured
        allowance for holding stale notices."""
        return cls(config.database_url, stale_after=config.notices.stale_after, digest_window=config.notices.digest_window)

    # Events -----------------------------------------------------------------------------------

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._group_commit = sql_group_commit.GroupCommit(self._add_events, max_events=constants.INTAKE_GROUP_MAX_EVENTS)

    def intake_busy(self) -> bool:
        return self._group_commit.busy

    async def add_events(self, events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        if not events:
            return []
        # Requests that arrive while a commit is in flight are committed together in the next one
        # (connectors.sql_group_commit); each caller returns after the commit that holds its events.
        return await self._group_commit.add(events)

    async def _add_events(self, events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        now = _now()
        rows = [
            {
                "event_id": e.event_id,
                "type": e.type,
                "uscc": e.uscc,
                "occurred_at": e.occurred_at.astimezone(datetime.UTC),
                "received_at": now,
                "body": e.body,
                "body_sha256": e.body_sha256,
                "headers": dict(e.headers),
                "status": event_status.EventStatus.RECEIVED.value,
            }
            for e in events
        ]
        async with self._write_intake() as connection:
            inserted = set(
                (
                    await connection.execute(
                        self.insert(_EVENT).on_conflict_do_nothing(index_elements=["event_id"]).returning(
                            _EVENT.c.event_id
                        ),
                        rows,
                    )
                ).scalars()
            )
            known = {}
            duplicates = [e.event_id for e in events if e.event_id not in inserted]
            if duplicates:
                result = await connection.execute(
                    sa.select(_EVENT.c.event_id, _EVENT.c.body_sha256).where(_EVENT.c.event_id.in_(duplicates))
                )
                known = {row.event_id: row.body_sha256 for row in result}
        results = []
        first: dict[str, str] = {}  # the body each id was stored with, when stored by this very call
        for e in events:
            created = e.event_id in inserted and e.event_id not in first
            if created:
                first[e.event_id] = e.body_sha256
            sha = first.get(e.event_id) or known.get(e.event_id, e.body_sha256)
            results.append(records.AddResult(e.event_id, created, sha != e.body_sha256))
        return results

    async def get_event(self, event_id: str) -> records.StoredEvent | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(_EVENT).where(_EVENT.c.event_id == event_id))).first()
        return self._event(row) if row else None

    async def pending_events(self, limit: int) -> list[records.StoredEvent]:
        query = (
            sa.select(_EVENT)
            .where(_EVENT.c.status == event_status.EventStatus.RECEIVED.value)
            .order_by(_EVENT.c.seq)
            .limit(limit)
        )
        async with self._read() as connection:
            return [self._event(row) for row in await connection.execute(query)]

    async def count_pending_events(self) -> int:
        query = sa.select(sa.func.count()).select_from(_EVENT).where(_EVENT.c.status == event_status.EventStatus.RECEIVED.value)
        async with self._read() as connection:
            return (await connection.execute(query)).scalar_one()

    async def firm_events(self, uscc: str) -> list[records.StoredEvent]:
        query = sa.select(_EVENT).where(_EVENT.c.uscc == uscc).order_by(_EVENT.c.seq)
        async with self._read() as connection:
            return [self._event(row) for row in await connection.execute(query)]

    async def _set_status(
        self, connection: sa_asyncio.AsyncConnection, event_id: str, new: event_status.EventStatus, error: str | None = None
    ) -> None:
        """The one place that writes an event's status; refuses transitions the life cycle forbids."""
        query = self._locked(sa.select(_EVENT.c.status).where(_EVENT.c.event_id == event_id))
        current = (await connection.execute(query)).scalar_one()
        event_status.check_transition(current, new)
        await connection.execute(
            sa.update(_EVENT)
            .where(_EVENT.c.event_id == event_id)
            .values(status=new.value, processed_at=_now(), error=error)
        )

    async def mark_failed(self, event_id: str, reason: str) -> None:
        async with self._write() as connection:
            await self._set_status(connection, event_id, event_status.EventStatus.FAILED, reason)

    # Firms ------------------------------------------------------------------------------------

    # Tokens -----------------------------------------------------------------------------------

    @staticmethod
    def _token(row: Any) -> records.TokenRecord:
        return records.TokenRecord(
            row.id, row.role, row.label, models.as_utc(row.created_at), models.as_utc(row.revoked_at),
            models.as_utc(row.expires_at), models.as_utc(row.last_used_at),
        )

    async def add_token(
        self, token_sha256: str, role: str, label: str, expires_at: datetime.datetime | None = None
    ) -> records.TokenRecord:
        async with self._write() as connection:
            row = (
                await connection.execute(
                    sa.insert(_TOKEN)
                    .values(token_sha256=token_sha256, role=role, label=label, created_at=_now(), expires_at=expires_at)
                    .returning(_TOKEN)
                )
            ).one()
        return self._token(row)

    async def list_tokens(self) -> list[records.TokenRecord]:
        async with self._read() as connection:
            return [self._token(row) for row in await connection.execute(sa.select(_TOKEN).order_by(_TOKEN.c.id))]

    async def revoke_token(self, token_id: int, at: datetime.datetime) -> records.TokenRecord | None:
        async with self._write() as connection:
            await connection.execute(
                sa.update(_TOKEN).where((_TOKEN.c.id == token_id) & _TOKEN.c.revoked_at.is_(None)).values(revoked_at=at)
            )
            row = (await connection.execute(sa.select(_TOKEN).where(_TOKEN.c.id == token_id))).first()
        return self._token(row) if row else None

    async def touch_token(self, token_id: int, at: datetime.datetime) -> None:
        async with self._write() as connection:
            await connection.execute(sa.update(_TOKEN).where(_TOKEN.c.id == token_id).values(last_used_at=at))

    async def find_token(self, token_sha256: str) -> records.TokenRecord | None:
        query = sa.select(_TOKEN).where(_TOKEN.c.token_sha256 == token_sha256, _TOKEN.c.revoked_at.is_(None))
        async with self._read() as connection:
            row = (await connection.execute(query)).first()
        return self._token(row) if row else None

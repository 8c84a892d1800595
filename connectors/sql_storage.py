"""SQL storage through SQLModel/SQLAlchemy: SQLite (aiosqlite) or PostgreSQL (asyncpg), picked by URL.

SQLite runs in WAL mode with foreign keys on and `synchronous=FULL`, so an acknowledged event
survives a crash of the process or the machine. Writes go through one connection that starts
its transactions with `BEGIN IMMEDIATE` (SQLite has one writer; taking the lock up front avoids
deadlocked lock upgrades), reads through a separate pool. On PostgreSQL both share one pool and
rows are locked with `FOR UPDATE` where a transaction reads before it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_audit, sql_backfill, sql_folding, sql_notices
from engine import constants, storage
from engine.core import event_status, matching, records
from connectors import sql_models as models

_EVENT = models.Event.__table__
_FIRM = models.Firm.__table__
_FIELD = models.ProfileField.__table__
_RISK = models.RegionRisk.__table__
_DECISION = models.Decision.__table__
_TOKEN = models.ApiToken.__table__


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_engine(url: str, *, writer: bool = False) -> sa_asyncio.AsyncEngine:
    """An async engine for `url`; for SQLite, with the pragmas this service relies on."""
    if not url.startswith("sqlite"):
        return sa_asyncio.create_async_engine(url, pool_pre_ping=True)
    options: dict[str, Any] = {"pool_size": 1, "max_overflow": 0} if writer else {}
    engine = sa_asyncio.create_async_engine(url, **options)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={constants.SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class SqlStorage(sql_audit.SqlAudit, sql_notices.SqlNotices, sql_backfill.SqlBackfill, sql_folding.SqlFolding, storage.Storage):
    """Storage on a relational database; see the module docstring for the locking rules."""

    has_migrations = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._reader: sa_asyncio.AsyncEngine | None = None
        self._writer: sa_asyncio.AsyncEngine | None = None
        self._users = 0  # open() and close() nest: the app and a test may share one store
        # SQLite group commit: concurrent add_events calls share one transaction (one fsync).
        self._queued: list[tuple[Sequence[records.NewEvent], asyncio.Future[list[records.AddResult]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._users += 1
        if self._writer is None:
            self._writer = create_engine(self.url, writer=True)
            self._reader = create_engine(self.url) if self.is_sqlite else self._writer

    async def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        for engine in {id(e): e for e in (self._reader, self._writer) if e is not None}.values():
            await engine.dispose()
        self._reader = self._writer = None

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[sa_asyncio.AsyncConnection]:
        assert self._writer is not None, "SqlStorage.open() was not called"
        async with self._writer.begin() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[sa_asyncio.AsyncConnection]:
        assert self._reader is not None, "SqlStorage.open() was not called"
        async with self._reader.connect() as connection:
            yield connection

    def read(self) -> contextlib.AbstractAsyncContextManager[sa_asyncio.AsyncConnection]:
        """A read-only connection (for read models such as the console's queries)."""
        return self._read()

    def write(self) -> contextlib.AbstractAsyncContextManager[sa_asyncio.AsyncConnection]:
        """A write transaction on the single writer (committed when the block ends without error)."""
        return self._write()

    def _insert(self, table: sa.Table) -> Any:
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    def _locked(self, query: sa.Select) -> sa.Select:
        return query if self.is_sqlite else query.with_for_update()

    async def ping(self) -> None:
        async with self._read() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def schema_revision(self) -> str | None:
        async with self._read() as connection:
            try:
                return (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
            except sa.exc.DBAPIError:
                return None

    # Events -----------------------------------------------------------------------------------

    async def add_events(self, events: Sequence[records.NewEvent]) -> list[records.AddResult]:
        if not events:
            return []
        if not self.is_sqlite:
            return await self._add_events(events)  # PostgreSQL groups concurrent commits itself
        # SQLite has one writer and fsyncs every commit: requests that arrive while a commit is in
        # flight are committed together in the next one. Each caller still returns only after the
        # transaction holding its events has committed.
        future: asyncio.Future[list[records.AddResult]] = asyncio.get_running_loop().create_future()
        self._queued.append((events, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_queued())
        return await asyncio.shield(future)

    def _writer_wanted(self) -> bool:
        """Whether received events wait to be stored: on SQLite they wait for the single writer."""
        return self._flusher is not None and not self._flusher.done()

    async def _flush_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                results = await self._add_events([event for events, _ in batch for event in events])
            except Exception as exc:  # every caller in the batch learns its events were not stored
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for events, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(events)])
                start += len(events)

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
        async with self._write() as connection:
            inserted = set(
                (
                    await connection.execute(
                        self._insert(_EVENT).on_conflict_do_nothing(index_elements=["event_id"]).returning(
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

    @staticmethod
    def _event(row: Any) -> records.StoredEvent:
        return records.StoredEvent(
            seq=row.seq,
            event_id=row.event_id,
            type=row.type,
            uscc=row.uscc,
            occurred_at=models.as_utc(row.occurred_at),
            received_at=models.as_utc(row.received_at),
            body=row.body,
            body_sha256=row.body_sha256,
            headers=row.headers,
            status=event_status.EventStatus(row.status),
            processed_at=models.as_utc(row.processed_at),
            error=row.error,
        )

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

    async def get_firm(self, uscc: str) -> records.FirmRecord | None:
        async with self._read() as connection:
            row = (await connection.execute(sa.select(_FIRM).where(_FIRM.c.uscc == uscc))).first()
        if row is None:
            return None
        return records.FirmRecord(
            uscc=row.uscc,
            fields=row.fields,
            stamps=row.stamps,
            events_applied=row.events_applied,
            created_at=models.as_utc(row.created_at),
            updated_at=models.as_utc(row.updated_at),
        )

    async def field_history(self, uscc: str) -> list[records.FieldAssignment]:
        query = sa.select(_FIELD).where(_FIELD.c.uscc == uscc).order_by(_FIELD.c.occurred_at, _FIELD.c.event_id, _FIELD.c.id)
        async with self._read() as connection:
            rows = await connection.execute(query)
            return [
                records.FieldAssignment(r.field, r.value, r.event_id, models.as_utc(r.occurred_at), models.as_utc(r.recorded_at))
                for r in rows
            ]

    async def _decisions_where(
        self, connection: sa_asyncio.AsyncConnection, condition: Any, *, lock: bool = False
    ) -> list[records.StoredDecision]:
        query = sa.select(_DECISION).where(condition).order_by(_DECISION.c.id)
        rows = await connection.execute(query.with_for_update() if lock and not self.is_sqlite else query)
        return [
            records.StoredDecision(
                id=r.id,
                uscc=r.uscc,
                as_of=r.as_of,
                event_id=r.event_id,
                created_at=models.as_utc(r.created_at),
                decision=matching.Decision(
                    clause_id=r.clause_id,
                    cite=r.cite,
                    rule_version=r.rule_version,
                    status=matching.Verdict(r.status),
                    amount=None if r.amount is None else float(r.amount),
                    explanation=r.explanation,
                    facts=r.facts,
                    period=r.period,
                ),
                approval=r.approval,
            )
            for r in rows
        ]

    async def _decisions(self, connection: sa_asyncio.AsyncConnection, uscc: str) -> list[records.StoredDecision]:
        return await self._decisions_where(connection, _DECISION.c.uscc == uscc)

    async def decisions(self, uscc: str) -> list[records.StoredDecision]:
        async with self._read() as connection:
            return await self._decisions(connection, uscc)

    @staticmethod
    async def _risk_years(connection: sa_asyncio.AsyncConnection, county: str | None) -> frozenset[int]:
        if county is None:
            return frozenset()
        rows = await connection.execute(sa.select(_RISK.c.year).where(_RISK.c.county == county))
        return frozenset(rows.scalars())

    async def risk_years(self, county: str) -> frozenset[int]:
        async with self._read() as connection:
            return await self._risk_years(connection, county)

    # Tokens -----------------------------------------------------------------------------------

    @staticmethod
    def _token(row: Any) -> records.TokenRecord:
        return records.TokenRecord(row.id, row.role, row.label, models.as_utc(row.created_at), models.as_utc(row.revoked_at))

    async def add_token(self, token_sha256: str, role: str, label: str) -> records.TokenRecord:
        async with self._write() as connection:
            row = (
                await connection.execute(
                    sa.insert(_TOKEN)
                    .values(token_sha256=token_sha256, role=role, label=label, created_at=_now())
                    .returning(_TOKEN)
                )
            ).one()
        return self._token(row)

    async def find_token(self, token_sha256: str) -> records.TokenRecord | None:
        query = sa.select(_TOKEN).where(_TOKEN.c.token_sha256 == token_sha256, _TOKEN.c.revoked_at.is_(None))
        async with self._read() as connection:
            row = (await connection.execute(query)).first()
        return self._token(row) if row else None

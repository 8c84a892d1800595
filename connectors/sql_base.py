"""What every part of the SQL store stands on: its engines, transactions, and rows read back as records.

SQLite runs in WAL mode with foreign keys on and `synchronous=FULL`, so an acknowledged event
survives a crash of the process or the machine. Writes go through one connection that starts
its transactions with `BEGIN IMMEDIATE` (SQLite has one writer; taking the lock up front avoids
deadlocked lock upgrades), reads through a separate pool. On PostgreSQL both share one pool and
rows are locked with `FOR UPDATE` where a transaction reads before it writes.

The SQL store is built in layers, each a class standing on the one below and calling only what
it inherits: SqlBase → SqlFirms → SqlAudit → SqlNotices → SqlNoticeCreation → SqlApprovals →
SqlFolding → SqlBackfill → SqlFirmPage → SqlStorage.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext import asyncio as sa_asyncio

from connectors import sql_health
from connectors import sql_models as models
from engine import constants
from engine.core import event_status, json_text, records, stores
from engine.core.scopes import Scope
from engine.notices import outbox


def region_in(scope: Scope, region: sa.ColumnElement[str]) -> list[sa.ColumnElement[bool]]:
    """An operator's scope (engine.core.scopes) as a condition on a firm's `region` column: none for
    every region, else one prefix match per region. A firm without a region (NULL) is in no
    restricted scope: LIKE on NULL is never true."""
    if scope.prefixes is None:
        return []
    return [sa.or_(*(region.startswith(prefix, autoescape=True) for prefix in scope.prefixes))]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_engine(url: str, *, writer: bool = False, pool_size: int | None = None) -> sa_asyncio.AsyncEngine:
    """An async engine for `url`; for SQLite, with the pragmas this service relies on. `pool_size`
    (PostgreSQL) bounds the engine's connections; by default SQLAlchemy's pool (5, overflowing to 15)."""
    if not url.startswith("sqlite"):
        sized: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
        return sa_asyncio.create_async_engine(
            url, pool_pre_ping=True, json_serializer=json_text.encode, json_deserializer=json_text.decode, **sized
        )
    options: dict[str, Any] = {"pool_size": 1, "max_overflow": 0} if writer else {}
    engine = sa_asyncio.create_async_engine(url, json_serializer=json_text.encode, json_deserializer=json_text.decode, **options)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={constants.SQLITE_BUSY_TIMEOUT_MS}")
        if writer:
            cursor.execute(f"PRAGMA cache_size=-{constants.SQLITE_WRITER_CACHE_KIB}")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class SqlBase(stores.Lifecycle):
    """The engines (a single writer and a read pool on SQLite, one pool on PostgreSQL) and the helpers
    every part of the SQL store uses."""

    has_migrations = True

    def __init__(
        self, url: str, *, stale_after: datetime.timedelta | None = None, digest_window: outbox.DigestWindow | None = None
    ) -> None:
        self.url = url
        #: See NoticeStore.stale_after and digest_window (the store union's notices are recorded with the decisions).
        self.stale_after = stale_after
        self.digest_window = digest_window
        self.is_sqlite = url.startswith("sqlite")
        self._reader: sa_asyncio.AsyncEngine | None = None
        self._writer: sa_asyncio.AsyncEngine | None = None
        self._users = 0  # open() and close() nest: the app and a test may share one store
        # PostgreSQL: received events are committed on connections of their own (`_intake`), so an
        # acknowledgement never waits for a connection the pipeline, the console or a worker holds.
        self._intake: sa_asyncio.AsyncEngine | None = None

    async def open(self) -> None:
        """Create the engines. Raises sql_health.MissingDatabase for a SQLite file that does not exist:
        connecting would create an empty database there (only `policy-push db upgrade` does)."""
        if self._writer is None:
            sql_health.refuse_missing(self.url)
        self._users += 1
        if self._writer is None:
            self._writer = create_engine(self.url, writer=True)
            self._reader = create_engine(self.url) if self.is_sqlite else self._writer
            self._intake = self._writer if self.is_sqlite else create_engine(self.url, pool_size=constants.INTAKE_POOL_SIZE)

    async def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        for engine in {id(e): e for e in (self._reader, self._writer, self._intake) if e is not None}.values():
            await engine.dispose()
        self._reader = self._writer = self._intake = None

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[sa_asyncio.AsyncConnection]:
        assert self._writer is not None, "SqlStorage.open() was not called"
        async with self._writer.begin() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _write_intake(self) -> AsyncIterator[sa_asyncio.AsyncConnection]:
        """A write transaction for received events: the single writer on SQLite, the intake pool on PostgreSQL."""
        assert self._intake is not None, "SqlStorage.open() was not called"
        async with self._intake.begin() as connection:
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

    def insert(self, table: sa.Table) -> Any:
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

    async def check_integrity(self) -> str | None:
        """SQLite: PRAGMA quick_check on a connection of its own (sql_health.check). PostgreSQL keeps its
        own pages whole; whether it answers is `ping`'s question."""
        if not self.is_sqlite:
            return None
        try:
            await sql_health.check(self.url)
        except sql_health.DatabaseUnusable as exc:
            return str(exc)
        return None

    def writer_wanted(self) -> bool:
        """Whether received events wait to be stored: on SQLite they wait for the single writer."""
        return self.is_sqlite and self.intake_busy()

    def intake_busy(self) -> bool:
        """Whether received events are being committed or wait for their commit (SqlStorage's group commit)."""
        return False

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

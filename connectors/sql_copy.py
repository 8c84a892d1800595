"""Every row of one database copied into another of the same schema (`policy-push db copy`).

Tables go in dependency order (the SQLModel metadata's), each in primary-key order and in batches,
keeping their primary keys, so that foreign keys, notice ids and the audit chain's sequence numbers
mean the same on the target. The source is read inside one transaction (on SQLite in WAL mode: one
snapshot, however the service writes meanwhile); the target is written in one transaction, so a
failed copy leaves it as empty as it was. PostgreSQL's sequences are then moved past the copied
keys, or the next row the service inserts would collide with a copied one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlmodel import SQLModel

from connectors import sql_base
from connectors import sql_models as models

#: Every table of the schema, parents before children.
TABLES: list[sa.Table] = list(SQLModel.metadata.sorted_tables)


class CopyFailed(Exception):
    """The target cannot take the copy; the message says why, in one line."""


async def row_counts(url: str) -> dict[str, int]:
    """Rows per table of the schema, in dependency order."""
    engine = sql_base.create_engine(url)
    try:
        async with engine.connect() as connection:
            return {t.name: (await connection.execute(sa.select(sa.func.count()).select_from(t))).scalar_one() for t in TABLES}
    finally:
        await engine.dispose()


async def table_names(url: str) -> list[str]:
    """Every table in the database (of ours or not), sorted."""
    engine = sql_base.create_engine(url)
    try:
        async with engine.connect() as connection:
            return sorted(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def audit_hash(url: str, seq: int) -> str | None:
    """The hash of audit entry `seq` (None if there is no such entry)."""
    table = models.AuditEntry.__table__
    engine = sql_base.create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(sa.select(table.c.hash).where(table.c.seq == seq))).scalar()
    finally:
        await engine.dispose()


async def copy_rows(source_url: str, target_url: str, *, batch: int) -> dict[str, int]:
    """Copy every row of every table from `source_url` into `target_url` (same schema, empty); return the rows
    copied per table. The target's transaction is rolled back if anything fails."""
    source = sql_base.create_engine(source_url)
    target = sql_base.create_engine(target_url, writer=True)
    copied: dict[str, int] = {}
    try:
        async with source.connect() as reader, target.begin() as writer:
            for table in TABLES:
                copied[table.name] = 0
                query = sa.select(table).order_by(*table.primary_key.columns)
                result = await reader.stream(query)
                async for part in result.mappings().partitions(batch):
                    try:
                        await writer.execute(table.insert(), [_portable(table, row) for row in part])
                    except sa.exc.DBAPIError as exc:
                        # Say which table: a value SQLite kept may be one PostgreSQL refuses (a string too long).
                        first = (str(exc.orig).strip().splitlines() or [""])[0]
                        raise CopyFailed(f"table {table.name}, rows after {copied[table.name]}: {first}") from None
                    copied[table.name] += len(part)
            if target.dialect.name == "postgresql":
                await _reset_sequences(writer)
    finally:
        await source.dispose()
        await target.dispose()
    return copied


def _portable(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(row)
    for column in table.columns:
        # SQLite gives timestamps back without their zone; they were stored in UTC (sql_models.as_utc). Said
        # here rather than left to the driver's reading of a naive value.
        if isinstance(column.type, sa.DateTime) and column.type.timezone:
            values[column.name] = models.as_utc(values[column.name])
    return values


async def _reset_sequences(connection: sa_asyncio.AsyncConnection) -> None:
    """Move each serial key's sequence past the largest key copied (to 1 for an empty table)."""
    for table in TABLES:
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = (await connection.execute(
            sa.select(sa.func.pg_get_serial_sequence(table.name, column.name)))).scalar()
        if sequence is None:
            raise CopyFailed(f"{table.name}.{column.name} has no sequence on the target: its schema is not this code's")
        largest = (await connection.execute(sa.select(sa.func.max(column)))).scalar()
        await connection.execute(sa.select(sa.func.setval(sequence, (largest or 0) + 1, False)))

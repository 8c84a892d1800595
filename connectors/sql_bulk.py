"""Many rows into one table in one ``executemany`` on the driver.

SQLAlchemy's Core insert of a list of dicts binds every value of every row through its generic
machinery (compiled parameters, a processor call per value, JSON encoding of each JSON value): for a
backfill writing millions of decisions that was most of the writer's time. Here the statement is
written once per table and dialect, each column's bind processor is looked up once, JSON columns take
text already encoded (in the worker processes), and the driver gets plain tuples.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio


class BulkInsert:
    """``INSERT INTO table (columns) VALUES (…)`` for many rows given as tuples in ``columns`` order.

    ``encoded``: columns (JSON) whose values are text the caller encoded; passed to the driver as is.
    """

    def __init__(self, table: sa.Table, columns: Sequence[str], encoded: Collection[str] = ()) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.encoded = frozenset(encoded)
        self._prepared: dict[str, tuple[str, list[Any]]] = {}

    def _prepare(self, dialect: sa.Dialect) -> tuple[str, list[Any]]:
        if dialect.name not in self._prepared:
            marks = [f"${n}" if dialect.paramstyle == "numeric_dollar" else "?" for n in range(1, len(self.columns) + 1)]
            if dialect.paramstyle not in ("numeric_dollar", "qmark"):
                raise NotImplementedError(f"bulk insert for paramstyle {dialect.paramstyle}")
            quote = dialect.identifier_preparer.quote
            statement = (f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(c) for c in self.columns)}) "
                         f"VALUES ({', '.join(marks)})")
            processors = [
                None if name in self.encoded else self.table.c[name].type._cached_bind_processor(dialect)
                for name in self.columns
            ]
            self._prepared[dialect.name] = (statement, processors)
        return self._prepared[dialect.name]

    async def insert(self, connection: sa_asyncio.AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` in the caller's transaction."""
        if not rows:
            return
        statement, processors = self._prepare(connection.dialect)
        bound = [(index, processor) for index, processor in enumerate(processors) if processor is not None]
        if bound:
            rows = [list(row) for row in rows]
            for index, processor in bound:
                # A transaction's rows share value objects (its one timestamp, its as-of date): bind each
                # object once. By identity, not equality: equal instants in two time zones stay distinct.
                done: dict[int, Any] = {}
                for row in rows:
                    value = row[index]
                    if value is not None:
                        key = id(value)  # the rows keep every value alive, so ids are not reused meanwhile
                        if key not in done:
                            done[key] = processor(value)
                        row[index] = done[key]
            rows = [tuple(row) for row in rows]
        await connection.exec_driver_sql(statement, list(rows))


async def next_ids(connection: sa_asyncio.AsyncConnection, table: sa.Table, count: int) -> list[int]:
    """``count`` new ids for ``table``'s integer primary key ``id``, ascending, taken in the caller's transaction.

    SQLite: the writer holds the database (BEGIN IMMEDIATE), so the ids after the largest are ours.
    PostgreSQL: drawn from the column's sequence (other transactions may draw between them: not
    necessarily consecutive).
    """
    if count <= 0:
        return []
    if connection.dialect.name == "sqlite":
        last = (await connection.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)))).scalar_one()
        return list(range(last + 1, last + 1 + count))
    drawn = await connection.execute(
        sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id"))).select_from(sa.func.generate_series(1, count))
    )
    return sorted(drawn.scalars())

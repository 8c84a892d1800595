"""Many rows into one table in one statement or one ``executemany`` on the driver.

SQLAlchemy's Core insert of a list of dicts binds every value of every row through its generic
machinery (compiled parameters, a processor call per value, JSON encoding of each JSON value): for a
backfill writing millions of decisions that was most of the writer's time. Here the statement is
written once per table and dialect, JSON columns take text already encoded (in the worker processes),
and the driver gets plain values:

* SQLite: ``INSERT … VALUES (?, …)`` as one ``executemany`` of tuples, each column's bind processor
  looked up once and applied once per distinct value object;
* PostgreSQL, rows no other writer can have inserted (no conflict clause): one binary ``COPY`` in the
  caller's transaction (asyncpg's ``copy_records_to_table``): timed alone, 40% less of the client's CPU
  per value than through arrays, where asyncpg checks every element for a nested array;
* PostgreSQL, rows a concurrent writer may have inserted, or an upsert: one ``INSERT … SELECT … FROM
  unnest($1::type[], …)``, a column per array, so the whole batch is one round trip and one statement
  (asyncpg's ``executemany`` is a statement per row), ending in ``ON CONFLICT … DO NOTHING RETURNING``
  or ``ON CONFLICT … DO UPDATE SET``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext import asyncio as sa_asyncio

#: PostgreSQL array element types by SQLAlchemy type (JSON columns travel as text and are cast).
_PG_TYPES = ((sa.Boolean, "bool"), (sa.Integer, "int8"), (sa.Numeric, "numeric"), (sa.DateTime, "timestamptz"),
             (sa.Date, "date"), (sa.String, "text"), (sa.Text, "text"), (sa.JSON, "text"))


class BulkInsert:
    """Insert many rows given as tuples in ``columns`` order (see the module docstring).

    ``encoded``: JSON columns whose values are text the caller encoded. ``conflict``: columns of a unique
    key; a row that would repeat one is skipped on PostgreSQL, where a concurrent writer may have
    inserted it (on SQLite the single writer holds the database, so the caller has ruled that out and a
    repeat fails loudly), and on SQLite too with ``repeats_stored`` (rows named by their content, which
    a caller writes without first reading what is there). ``update``: instead of being skipped, a row
    that repeats a key overwrites these columns of the stored one, on both databases (an upsert; the
    rows of one call must not repeat a key among themselves). ``returning``: a column whose values of
    the inserted rows :meth:`insert` returns (PostgreSQL; None on SQLite).
    """

    def __init__(self, table: sa.Table, columns: Sequence[str], encoded: Collection[str] = (), *,
                 conflict: Sequence[str] = (), repeats_stored: bool = False, update: Sequence[str] = (),
                 returning: str | None = None) -> None:
        if update and not conflict:
            raise ValueError("an upsert (update) needs the unique key it is about (conflict)")
        self.table = table
        self.columns = tuple(columns)
        self.encoded = frozenset(encoded)
        self.conflict = tuple(conflict)
        self.repeats_stored = repeats_stored
        self.update = tuple(update)
        self.returning = returning
        self._prepared: dict[str, tuple[str, list[Any]]] = {}

    def _prepare(self, dialect: sa.Dialect) -> tuple[str, list[Any]]:
        if dialect.name not in self._prepared:
            quote = dialect.identifier_preparer.quote
            names = ", ".join(quote(c) for c in self.columns)
            if dialect.name == "postgresql":
                types = [self._pg_type(name) for name in self.columns]
                selected = ", ".join(f"{quote(c)}::jsonb" if c in self.encoded else quote(c) for c in self.columns)
                arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=1))
                statement = f"INSERT INTO {quote(self.table.name)} ({names}) SELECT {selected} FROM unnest({arrays}) AS t({names})"
                if self.conflict:
                    statement += self._on_conflict(quote)
                if self.returning:
                    statement += f" RETURNING {quote(self.returning)}"
                processors: list[Any] = [None] * len(self.columns)  # asyncpg takes Python values as they are
            elif dialect.paramstyle == "qmark":
                statement = f"INSERT INTO {quote(self.table.name)} ({names}) VALUES ({', '.join('?' * len(self.columns))})"
                if self.conflict and (self.repeats_stored or self.update):
                    statement += self._on_conflict(quote)
                processors = [
                    None if name in self.encoded else self.table.c[name].type._cached_bind_processor(dialect)
                    for name in self.columns
                ]
            else:
                raise NotImplementedError(f"bulk insert on {dialect.name} ({dialect.paramstyle})")
            self._prepared[dialect.name] = (statement, processors)
        return self._prepared[dialect.name]

    def _on_conflict(self, quote: Callable[[str], str]) -> str:
        clause = f" ON CONFLICT ({', '.join(quote(c) for c in self.conflict)})"
        if not self.update:
            return clause + " DO NOTHING"
        return clause + " DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in self.update)

    def _pg_type(self, name: str) -> str:
        column_type = self.table.c[name].type
        for kind, pg in _PG_TYPES:
            if isinstance(column_type, kind):
                return pg
        raise NotImplementedError(f"bulk insert of {self.table.name}.{name} ({column_type!r})")

    def bind(self, dialect: sa.Dialect, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """``rows`` with each column through its bind processor (SQLite; asyncpg takes Python values as they
        are), ready for :meth:`insert` with ``bound``: a caller can bind rows before its transaction begins."""
        _statement, processors = self._prepare(dialect)
        bound = [(index, processor) for index, processor in enumerate(processors) if processor is not None]
        if not bound or not rows:
            return list(rows)
        columns = list(zip(*rows, strict=True))
        for index, processor in bound:
            columns[index] = _bound_column(columns[index], processor)
        return list(zip(*columns))

    async def insert(
        self, connection: sa_asyncio.AsyncConnection, rows: Sequence[Sequence[Any]], *, bound: bool = False
    ) -> list[Any] | None:
        """Insert ``rows`` in the caller's transaction (``bound``: already through :meth:`bind`); on
        PostgreSQL with ``returning``, that column of the rows inserted (a row skipped by the conflict
        clause is not among them)."""
        if not rows:
            return [] if self.returning and connection.dialect.name == "postgresql" else None
        statement, _processors = self._prepare(connection.dialect)
        if connection.dialect.name == "postgresql" and not self.conflict and not self.returning:
            await self._copy(connection, rows)
            return None
        if connection.dialect.name == "postgresql":
            columns = [list(column) for column in zip(*rows, strict=True)]
            result = await connection.exec_driver_sql(statement, tuple(columns))
            return list(result.scalars()) if self.returning else None
        await connection.exec_driver_sql(statement, list(rows) if bound else self.bind(connection.dialect, rows))
        return None

    async def _copy(self, connection: sa_asyncio.AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        """``rows`` by binary COPY on the driver's connection, inside the caller's transaction."""
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter begins its transaction at the first statement through it; a COPY
            # sent first would go around the transaction and commit on its own.
            await connection.exec_driver_sql("SELECT 1")
        try:
            await driver.copy_records_to_table(self.table.name, records=rows, columns=self.columns)
        except Exception as error:
            raise _as_statement_error(connection, raw, f"COPY {self.table.name}", error) from error


def _as_statement_error(connection: sa_asyncio.AsyncConnection, raw: Any, statement: str, error: Exception) -> BaseException:
    """The error SQLAlchemy raises where a statement sent through it fails with asyncpg's ``error``: callers
    tell a refused row (``IntegrityError``: the event is parked) from a lost connection (``InterfaceError``:
    tried again, engine.telemetry.tasks.TRANSIENT) by its class. The translation is the adapter's own."""
    dbapi = connection.dialect.loaded_dbapi
    try:
        raw.dbapi_connection._handle_exception(error)
    except dbapi.Error as translated:
        return sa.exc.DBAPIError.instance(statement, None, translated, dbapi.Error, dialect=connection.dialect)
    except Exception as other:  # not the driver's (an OSError, a cancellation's TimeoutError): as it is
        return other
    return error  # not reached: the adapter raises


def _bound_column(values: Sequence[Any], processor: Callable[[Any], Any]) -> list[Any]:
    """A column's values through its bind processor, each value object once: a transaction's rows share
    them (its one timestamp, its as-of date, a batch's few amounts). By identity, not equality: equal
    instants in two time zones stay distinct; the column keeps every value alive, so ids are not reused."""
    distinct = {id(value): value for value in values if value is not None}
    processed = {key: processor(value) for key, value in distinct.items()}
    return [None if value is None else processed[id(value)] for value in values]


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
    # The sequence's name looked up once per statement: in the select list pg_get_serial_sequence ran
    # once per id drawn (5% of the server's CPU in a PostgreSQL backfill).
    drawn = await connection.exec_driver_sql(
        "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence($1, 'id')::regclass AS sequence) "
        "SELECT nextval(s.sequence) FROM s, generate_series(1, $2::int)",
        (table.name, count),
    )
    return sorted(drawn.scalars())

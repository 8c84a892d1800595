"""Whether the configured database can be trusted: present, readable, whole, and at the code's schema.

A SQLite file with damaged pages still opens and answers `SELECT 1`, so the service would start,
report ready and acknowledge events into it. `check` looks deeper: on SQLite it runs
`PRAGMA quick_check` (every page and index, without cross-checking index contents) on a connection
of its own, opened read-only so that a mistyped path is never created; on PostgreSQL it connects.
`head` adds the migration check. Every failure is a `DatabaseUnusable` whose message is one line
naming the file, or the URL with its password hidden.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
import urllib.parse

import sqlalchemy as sa
import sqlalchemy.engine
from sqlalchemy.ext import asyncio as sa_asyncio

from engine import settings

#: Findings of `quick_check` quoted in the message: the first says where; the rest would only repeat it.
_QUOTED_ROWS = 1


class DatabaseUnusable(Exception):
    """The database is missing, unreadable, damaged or behind the code's schema; the message says which, in one line."""


class MissingDatabase(DatabaseUnusable):
    """A SQLite URL names a file that does not exist (or is empty): opening it would start a new database."""


def where(url: str) -> str:
    """The database as a person looks for it: a SQLite file's absolute path, else the URL without its password."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(sqlite_path(url))
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: str) -> pathlib.Path:
    """The absolute path of a SQLite URL's file."""
    return pathlib.Path(sqlalchemy.engine.make_url(url).database or "").absolute()


def is_sqlite(url: str) -> bool:
    """Whether `url` is a SQLite URL."""
    return sqlalchemy.engine.make_url(url).get_backend_name() == "sqlite"


def refuse_missing(url: str) -> None:
    """Raise MissingDatabase if `url` is a SQLite file that does not exist or holds nothing. A mistyped
    path must not become a new, empty database, and a file truncated to nothing is not a database to
    migrate afresh: only `policy-push db upgrade` creates one."""
    if not is_sqlite(url):
        return
    path = sqlite_path(url)
    if not path.is_file():
        raise MissingDatabase(f"database file {path} does not exist; check {settings.DATABASE_URL_VAR}, "
                              "or create it with `policy-push db upgrade` (`make run` does)")
    if path.stat().st_size == 0:
        raise MissingDatabase(f"database file {path} is empty (0 bytes); restore it from a backup, "
                              "or if it is meant to be new, run `policy-push db upgrade`")


async def check(url: str) -> None:
    """Raise DatabaseUnusable unless the database is present, can be read and (SQLite) passes quick_check."""
    if is_sqlite(url):
        refuse_missing(url)
        await asyncio.to_thread(_quick_check, sqlite_path(url))
        return
    engine = sa_asyncio.create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise DatabaseUnusable(f"cannot use the database at {where(url)}: {_reason(exc)}") from None
    finally:
        await engine.dispose()


async def head(url: str, expected: str) -> None:
    """Raise DatabaseUnusable unless the database's schema is at migration `expected`."""
    current = await revision(url)
    if current != expected:
        raise DatabaseUnusable(
            f"the database at {where(url)} is at migration {current or 'none'}, this code expects {expected}: "
            "run `policy-push db upgrade`"
        )


async def revision(url: str) -> str | None:
    """The migration the database's schema is at (None before the first); DatabaseUnusable if it cannot be read."""
    if is_sqlite(url):
        refuse_missing(url)
    engine = sa_asyncio.create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    except sa.exc.ProgrammingError:
        found = None  # PostgreSQL: no alembic_version table yet
    except sa.exc.OperationalError as exc:
        if "no such table" not in str(exc.orig):
            raise DatabaseUnusable(f"cannot use the database at {where(url)}: {_reason(exc)}") from None
        found = None
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise DatabaseUnusable(f"cannot use the database at {where(url)}: {_reason(exc)}") from None
    finally:
        await engine.dispose()
    return found


def _quick_check(path: pathlib.Path) -> None:
    # Read-only (mode=ro): the check never creates or changes the file. A new connection each time,
    # so pages are read from the disk, not from a cache that predates the damage.
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=10)
        try:
            rows = [row[0] for row in connection.execute("PRAGMA quick_check")]
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return  # a long write holds the file: that is not damage, and the next check will read it
        raise DatabaseUnusable(f"database file {path} cannot be read ({exc})") from None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        raise DatabaseUnusable(f"database file {path} is damaged ({exc}); restore it from a backup") from None
    if rows != ["ok"]:
        # A row may hold several findings, one a line, under a "*** in database main ***" heading.
        found = [line.strip() for row in rows for line in str(row).splitlines() if line.strip() and not line.startswith("***")]
        quoted = "; ".join(found[:_QUOTED_ROWS]) or "not ok"
        more = f" (+{len(found) - _QUOTED_ROWS} more)" if len(found) > _QUOTED_ROWS else ""
        raise DatabaseUnusable(f"database file {path} is damaged (quick_check: {quoted}{more}); restore it from a backup")


def _reason(exc: BaseException) -> str:
    """An error's first line, without SQLAlchemy's background link."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}".rstrip(": ")

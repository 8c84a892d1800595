"""SQLite files copied whole: the online backup behind `policy-push db backup` and the swap behind `db restore`.

A backup goes through SQLite's backup API in a single step, that is inside one read transaction:
in WAL mode other connections go on writing meanwhile, and the copy is the database as it was
when the step began, whatever they commit. It is written to a hidden file beside the target,
switched to a rollback journal (one self-contained file, no `-wal` beside it), checked with
`PRAGMA quick_check`, flushed to disk and only then renamed into place, so the target is either
absent or whole.

A restore must not swap the file under a running service: `refuse_in_use` asks SQLite for the
file exclusively, which fails while any other connection has it open (a WAL connection keeps a
shared lock for as long as it is open, idle or not).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
import secrets
import sqlite3
import urllib.parse

from engine import constants


class BackupError(Exception):
    """The copy could not be made or did not check out; the message says which file and why, in one line."""


class InUse(Exception):
    """Another process has the database open (the service, a worker, a command)."""


def backup(source: pathlib.Path, target: pathlib.Path) -> None:
    """Copy the SQLite database at `source` into the new file `target` (see the module's docstring).
    `target` is replaced if it exists: the caller decides whether that is allowed."""
    partial = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        source_connection = _connect(source)
        try:
            target_connection = sqlite3.connect(partial, isolation_level=None)
            try:
                # pages=-1: every page in one step, one read transaction, hence one consistent snapshot.
                source_connection.backup(target_connection, pages=-1)
                target_connection.execute("PRAGMA journal_mode=DELETE")
                rows = [row[0] for row in target_connection.execute("PRAGMA quick_check")]
            finally:
                target_connection.close()
        finally:
            source_connection.close()
        if rows != ["ok"]:
            raise BackupError(f"the copy of {source} does not pass quick_check ({'; '.join(map(str, rows))[:200]})")
        _fsync(partial)
        os.replace(partial, target)
        _fsync_directory(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source} to {target}: {type(exc).__name__}: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def refuse_in_use(path: pathlib.Path) -> None:
    """Raise InUse if another connection has the SQLite file at `path` open; otherwise fold its WAL into
    the file, so that the file alone is the whole database, and leave it closed."""
    connection = _connect(path, busy_ms=0)
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            connection.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise InUse(f"database file {path} is open in another process") from None
            raise
        connection.execute("ROLLBACK")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def swap_in(backup_file: pathlib.Path, database: pathlib.Path, at: datetime.datetime) -> pathlib.Path | None:
    """Put a copy of `backup_file` at `database`; the file it replaces (and a `-wal` left beside it) is kept
    as `<database>.before-restore-<UTC time>`, whose path is returned (None when there was none).
    Call `refuse_in_use(database)` first."""
    incoming = database.with_name(f".{database.name}.restoring-{secrets.token_hex(4)}")
    backup(backup_file, incoming)  # a fresh, checked copy: the backup itself stays as it was
    aside = None
    try:
        if database.exists():
            aside = _free(database.with_name(f"{database.name}.before-restore-{at.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}"))
            os.replace(database, aside)
            for suffix in ("-wal", "-shm"):
                # A WAL left beside the new file would be read as its own: it goes with the file it belongs to.
                leftover = database.with_name(database.name + suffix)
                if leftover.exists():
                    os.replace(leftover, aside.with_name(aside.name + suffix))
        os.replace(incoming, database)
        _fsync_directory(database.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            incoming.unlink()
    return aside


def _free(path: pathlib.Path) -> pathlib.Path:
    """`path`, or `path-2`, `path-3`, … if taken: a kept file is never replaced (two restores in one second)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _connect(path: pathlib.Path, *, busy_ms: int = constants.SQLITE_BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    # mode=rw: never create the file (a mistyped path must not become an empty database).
    uri = f"file:{urllib.parse.quote(str(path))}?mode=rw"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_ms / 1000)
    return connection


def _fsync(path: pathlib.Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(path: pathlib.Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    _fsync(path)

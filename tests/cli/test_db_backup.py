"""`policy-push db backup PATH` and `db restore PATH` on SQLite (issue 17, item 2)."""

from __future__ import annotations

import asyncio
import datetime
import os
import sqlite3
import threading

import pytest

from connectors import sql_backup, sql_copy, sql_storage
from connectors import sql_migrate as migrate
from engine import audit
from tests.cli import installation


def _url(path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _chain_length(path) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    finally:
        connection.close()


class _Writer(threading.Thread):
    """Another connection committing audit entries and events, one transaction each, until told to stop."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.started = threading.Event()
        self.stop = threading.Event()
        self.written = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._write())
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc
            self.started.set()

    async def _write(self) -> None:
        store = sql_storage.SqlStorage(self.url)
        await store.open()
        try:
            while not self.stop.is_set():
                await store.append_audit([audit.Draft("writer", "test.write", "firm", str(self.written), {"n": self.written})])
                self.written += 1
                self.started.set()
        finally:
            await store.close()


def test_a_backup_taken_while_another_connection_writes_is_whole_and_its_chain_verifies(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "backup.sqlite3"
    installation.create(_url(database), 2)
    before = _chain_length(database)
    writer = _Writer(_url(database))
    writer.start()
    assert writer.started.wait(timeout=60) and writer.failure is None
    try:
        code, output = installation.run(_url(database), "db", "backup", str(copy))
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.failure is None and not writer.is_alive()
    assert code == 0, output
    assert output.startswith(f"backed up {database} to {copy}: ") and output.endswith(
        f"bytes, migration {migrate.head_revision()}, quick_check ok\n")

    connection = sqlite3.connect(copy)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    finally:
        connection.close()
    # Nothing beside the backup (no -wal, no journal), and no partial file left behind.
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith("pp.sqlite3")) == ["backup.sqlite3"]
    in_backup = _chain_length(copy)
    assert before < in_backup <= before + writer.written
    code, verified = installation.run(_url(copy), "audit", "verify")
    assert code == 0 and verified.startswith(f"ok: {in_backup} entries, chain intact, head ")


def test_an_existing_file_is_replaced_only_with_force(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "backup.sqlite3"
    assert installation.run(_url(database), "db", "upgrade")[0] == 0
    copy.write_bytes(b"an earlier backup")
    code, output = installation.run(_url(database), "db", "backup", str(copy))
    assert code == 2 and f"Invalid value for PATH: {copy} exists; give --force to replace it" in output
    assert copy.read_bytes() == b"an earlier backup"
    code, output = installation.run(_url(database), "db", "backup", str(copy), "--force")
    assert code == 0, output
    assert installation.run(_url(copy), "db", "current") == (0, f"{migrate.head_revision()} (head)\n")
    code, output = installation.run(_url(database), "db", "backup", str(database))
    assert code == 2 and "is the database itself" in output


def test_backup_and_restore_refuse_postgresql_in_one_line_pointing_to_pg_dump(tmp_path):
    for command in ("backup", "restore"):
        target = tmp_path / f"{command}.sqlite3"
        target.write_bytes(b"")
        code, output = installation.run("postgresql://pp@127.0.0.1:1/pp", "db", command, str(target))
        assert code == 1 and output == ("Error: the configured database is PostgreSQL: use pg_dump and pg_restore "
                                        "(docs/deployment.md, \"Backup and restore\")\n")


def test_a_missing_or_damaged_database_is_not_backed_up(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "backup.sqlite3"
    code, output = installation.run(_url(database), "db", "backup", str(copy))
    assert code == 1 and "does not exist" in output
    database.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    code, output = installation.run(_url(database), "db", "backup", str(copy))
    assert code == 1 and "damaged" in output
    assert sorted(os.listdir(tmp_path)) == ["pp.sqlite3"]


def test_restore_puts_the_backup_back_and_keeps_the_replaced_file(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "backup.sqlite3"
    installation.create(_url(database), 2)
    assert installation.run(_url(database), "db", "backup", str(copy))[0] == 0
    counts = asyncio.run(sql_copy.row_counts(_url(copy)))
    asyncio.run(_append(_url(database), 3))  # work done after the backup, which the restore takes back
    later = _chain_length(database)

    code, output = installation.run(_url(database), "db", "restore", str(copy))  # nobody answers the question
    assert code == 1 and "Aborted" in output and _chain_length(database) == later

    code, output = installation.run(_url(database), "db", "restore", str(copy), "--yes")
    assert code == 0, output
    [aside] = [name for name in os.listdir(tmp_path) if ".before-restore-" in name and not name.endswith(("-wal", "-shm"))]
    assert output == (f"restored {copy} to {database} (migration {migrate.head_revision()}); "
                      f"the replaced file is {tmp_path / aside}\n")
    assert asyncio.run(sql_copy.row_counts(_url(database))) == counts
    assert _chain_length(tmp_path / aside) == later  # the replaced database, whole, with its last entries
    assert installation.run(_url(database), "audit", "verify")[0] == 0
    assert copy.exists() and asyncio.run(sql_copy.row_counts(_url(copy))) == counts  # the backup is left as it was


async def _append(url: str, entries: int) -> None:
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        await store.append_audit([audit.Draft("test", "test.later", "firm", str(n)) for n in range(entries)])
    finally:
        await store.close()


async def test_restore_is_refused_while_another_process_has_the_database_open(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "backup.sqlite3"
    await asyncio.to_thread(installation.create, _url(database), 1)
    assert (await asyncio.to_thread(installation.run, _url(database), "db", "backup", str(copy)))[0] == 0
    await _append(_url(database), 2)
    later = _chain_length(database)
    service = sql_storage.SqlStorage(_url(database))  # as a running `serve` holds it: open, idle
    await service.open()
    try:
        await service.ping()
        code, output = await asyncio.to_thread(installation.run, _url(database), "db", "restore", str(copy), "--yes")
    finally:
        await service.close()
    assert code == 1 and f"database file {database} is open in another process: stop `policy-push serve`" in output
    assert _chain_length(database) == later
    assert not [name for name in os.listdir(tmp_path) if ".before-restore-" in name]


def test_a_backup_of_an_older_release_is_upgraded_after_the_restore(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "old.sqlite3"
    older = migrate.revisions()[-3]
    migrate.upgrade(_url(copy), older)
    code, output = installation.run(_url(database), "db", "restore", str(copy), "--yes")  # onto a new machine: no file yet
    assert code == 0, output
    assert f"restored {copy} to {database} (migration {older})\n" in output and "replaced file" not in output
    assert output.endswith(f"database upgraded from {older} to {migrate.head_revision()}\n")
    assert installation.run(_url(database), "db", "current") == (0, f"{migrate.head_revision()} (head)\n")
    assert installation.run(_url(copy), "db", "current")[1].startswith(f"{older} ")  # the backup itself untouched


@pytest.mark.parametrize("make, reason", [
    (lambda path: path.write_bytes(b"not a database at all, just text" * 200), "not a usable backup: database file"),
    (lambda path: sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit(), "holds no policy-push schema"),
    (lambda path: _at_revision(path, "0999"), "is at migration 0999, which this code does not know"),
])
def test_a_file_that_is_not_a_policy_push_backup_this_code_knows_is_refused(tmp_path, make, reason):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "other.sqlite3"
    assert installation.run(_url(database), "db", "upgrade")[0] == 0
    make(copy)
    before = database.read_bytes()
    code, output = installation.run(_url(database), "db", "restore", str(copy), "--yes")
    assert code == 1 and reason in output, output
    assert database.read_bytes() == before
    assert not [name for name in os.listdir(tmp_path) if ".before-restore-" in name]


def _at_revision(path, revision: str) -> None:
    migrate.upgrade(_url(path))
    connection = sqlite3.connect(path)
    try:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        connection.commit()
    finally:
        connection.close()


def test_two_restores_in_the_same_second_keep_both_replaced_files(tmp_path):
    database, copy = tmp_path / "pp.sqlite3", tmp_path / "backup.sqlite3"
    migrate.upgrade(_url(copy))
    database.write_bytes(copy.read_bytes())
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    first = sql_backup.swap_in(copy, database, at)
    second = sql_backup.swap_in(copy, database, at)
    assert first == tmp_path / "pp.sqlite3.before-restore-20260102T030405Z"
    assert second == tmp_path / "pp.sqlite3.before-restore-20260102T030405Z-2"
    assert first.exists() and second.exists() and database.exists()

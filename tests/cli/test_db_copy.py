"""`policy-push db copy --to postgresql://…`: a whole SQLite installation moved to PostgreSQL (issue 17, item 2)."""

from __future__ import annotations

import asyncio
import re

import pytest
import sqlalchemy as sa

from connectors import sql_copy, sql_storage
from connectors import sql_migrate as migrate
from engine import audit
from engine.http import auth
from tests import conftest
from tests.cli import installation


def _plain(url: str) -> str:
    """The URL as an operator types it (postgresql://, no driver)."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _answers(url: str) -> dict:
    """What the service's read paths say about every firm, the notices and the audit chain."""
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        async with store.read() as connection:
            usccs = list((await connection.execute(sa.select(sql_copy.models.Firm.__table__.c.uscc).order_by("uscc"))).scalars())
        firms = {}
        for uscc in usccs:
            firms[uscc] = (await store.get_firm(uscc), await store.decisions(uscc), await store.firm_notices(uscc),
                           await store.opt_outs(uscc), await store.sms_preference(uscc), await store.firm_responses(uscc))
        chain = [entry.as_json() async for entry in store.audit_entries()]
        return {"firms": firms, "notices": await store.count_notices(), "chain": chain,
                "tokens": await store.list_tokens(), "settings": await store.clause_settings()}
    finally:
        await store.close()


@pytest.fixture
async def target():
    conftest.require_postgres()
    url = await conftest.create_pg_database()
    try:
        yield url
    finally:
        await conftest.drop_pg_database(url)


@pytest.mark.postgres
async def test_a_copied_installation_answers_on_postgresql_as_it_did_on_sqlite(tmp_path, target):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    await asyncio.to_thread(installation.create, source)
    counts = await sql_copy.row_counts(source)

    code, output = await asyncio.to_thread(installation.run, source, "db", "copy", "--to", _plain(target), "--batch", "7")
    assert code == 0, output
    assert re.search(rf"^  audit_entry +{counts['audit_entry']}$", output, flags=re.MULTILINE), output
    assert "row counts match on every table; audit chain on the target: ok" in output

    assert await sql_copy.row_counts(target) == counts  # every table, batches of 7 rows included
    before, after = await _answers(source), await _answers(target)
    assert after["firms"] and after["chain"] and after["notices"]
    assert after == before
    code, verified = await asyncio.to_thread(installation.run, target, "audit", "verify")
    assert code == 0 and verified == f"ok: {len(before['chain'])} entries, chain intact, head {before['chain'][-1]['hash']}\n"

    # The sequences were moved past the copied keys: the service's next inserts get new ones.
    store = sql_storage.SqlStorage(target)
    await store.open()
    try:
        token = await store.add_token(auth.new_token()[1], "viewer", "after the move")
        [entry] = await store.append_audit([audit.Draft("test", "test.after", "firm", "x")])
    finally:
        await store.close()
    assert token.id == max(t.id for t in before["tokens"]) + 1
    assert entry.seq == len(before["chain"]) + 1 and entry.prev_hash == before["chain"][-1]["hash"]


@pytest.mark.postgres
async def test_a_target_that_holds_rows_or_other_tables_is_refused_and_left_as_it_was(tmp_path, target):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    await asyncio.to_thread(installation.create, source, 1)
    assert (await asyncio.to_thread(installation.run, source, "db", "copy", "--to", target))[0] == 0
    counts = await sql_copy.row_counts(target)
    code, output = await asyncio.to_thread(installation.run, source, "db", "copy", "--to", target)
    assert code == 1 and "is not empty (" in output and "db copy only fills an empty database" in output
    assert await sql_copy.row_counts(target) == counts

    other = await conftest.create_pg_database()
    try:
        engine = sa.ext.asyncio.create_async_engine(other)
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE something_else (x integer)"))
        await engine.dispose()
        code, output = await asyncio.to_thread(installation.run, source, "db", "copy", "--to", other)
        assert code == 1 and "holds tables (something_else) but no policy-push schema" in output
        assert await sql_copy.table_names(other) == ["something_else"]
    finally:
        await conftest.drop_pg_database(other)


@pytest.mark.postgres
async def test_a_target_at_another_migration_is_refused(tmp_path, target):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    assert (await asyncio.to_thread(installation.run, source, "db", "upgrade"))[0] == 0
    older = migrate.revisions()[-2]
    await asyncio.to_thread(migrate.upgrade, target, older)
    code, output = await asyncio.to_thread(installation.run, source, "db", "copy", "--to", target)
    assert code == 1 and f"is at migration {older}, the source at {migrate.head_revision()}" in output


def test_the_target_must_be_postgresql_and_the_source_sqlite(tmp_path):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    code, output = installation.run(source, "db", "copy", "--to", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    assert code == 2 and "give a postgresql:// URL (to copy a SQLite file, use `policy-push db backup`)" in output
    code, output = installation.run(source, "db", "copy", "--to", "mysql://x@h/db")
    assert code == 2 and "Invalid value for '--to': driver 'mysql' is not supported" in output
    code, output = installation.run("postgresql://u@127.0.0.1:1/db", "db", "copy", "--to", "postgresql://u@h/db")
    assert code == 1 and "already PostgreSQL: use pg_dump and pg_restore" in output
    assert not (tmp_path / "pp.sqlite3").exists() and not (tmp_path / "other.sqlite3").exists()


def test_a_source_behind_the_code_is_sent_to_db_upgrade_first(tmp_path):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    migrate.upgrade(source, migrate.revisions()[-2])
    code, output = installation.run(source, "db", "copy", "--to", "postgresql://u@127.0.0.1:1/never")
    assert code == 1 and "run `policy-push db upgrade`" in output


@pytest.mark.postgres
async def test_a_copy_that_fails_keeps_nothing_and_can_be_run_again(tmp_path, target):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    await asyncio.to_thread(installation.create, source, 1)
    firm = sql_copy.models.Firm.__table__
    engine = sa.ext.asyncio.create_async_engine(source)
    async with engine.begin() as connection:  # SQLite does not enforce VARCHAR(18); PostgreSQL does
        await connection.execute(sa.insert(firm).values(uscc="9" * 19, fields={}, stamps={}, events_applied=0,
                                                        created_at=installation.AT, updated_at=installation.AT))
    code, output = await asyncio.to_thread(installation.run, source, "db", "copy", "--to", target, "--batch", "2")
    assert code == 1 and ("nothing copied, the target was left empty: table firm, rows after 0: "
                          "value too long for type character varying(18)") in output
    assert set((await sql_copy.row_counts(target)).values()) == {0}

    async with engine.begin() as connection:
        await connection.execute(sa.delete(firm).where(firm.c.uscc == "9" * 19))
    await engine.dispose()
    code, output = await asyncio.to_thread(installation.run, source, "db", "copy", "--to", target)
    assert code == 0, output
    assert await sql_copy.row_counts(target) == await sql_copy.row_counts(source)


def test_an_unreachable_target_is_named_with_its_password_hidden(tmp_path):
    source = f"sqlite+aiosqlite:///{tmp_path / 'pp.sqlite3'}"
    assert installation.run(source, "db", "upgrade")[0] == 0
    code, output = installation.run(source, "db", "copy", "--to", "postgresql://pp:secret@127.0.0.1:1/pp")
    assert code == 1 and "cannot use the database at postgresql+asyncpg://pp:***@127.0.0.1:1/pp" in output
    assert "secret" not in output
